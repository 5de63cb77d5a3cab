/**
 * Cloudflare's managed WAF rulesets (ids checked on these machines, see the design card). One
 * place for them: the edge component executes them, the policy pack checks they are executed.
 */
export const MANAGED_RULESETS = {
    owaspCore: "4814384a9e5d4991b9815dcfc25d2f1f",
    cloudflareManaged: "efb7b8c949ac4650a09736fc376e9aee",
} as const;
