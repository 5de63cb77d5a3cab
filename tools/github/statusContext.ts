/**
 * The commit status that records a staging verification's verdict, on the services monorepo's
 * commit that staging ran and on this repository's commit that deployed it. Branch rulesets of
 * both repositories' `production` branches require it (docs/runbook.md, section 9), and the
 * production deploy's gate reads it (tools/stagingGate.ts).
 *
 * It is a commit status posted by one step, never the name of a job: GitHub reports a skipped
 * job's check as successful, so a required check named after a job would let a skipped
 * verification through (GitHub docs, "Troubleshooting required status checks": "If a job in a
 * workflow is skipped due to a conditional, it will report its status as 'Success'").
 */
export const STAGING_VERIFICATION_CONTEXT = "staging-verification";
