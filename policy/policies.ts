/**
 * Every policy of the pack, in one list. Empty until the policy-pack issue adds the domain
 * modules (ec2, rds, s3, cloudflare, vercel, rollout) and lists their policies here.
 */
import { Policies } from "@pulumi/policy";

export const ALL_POLICIES: Policies = [];
