/**
 * Every policy of the pack, by domain. The pack's entry (index.ts) and the offline check
 * (tools/policyCheck.ts) both take them from here.
 */
import { Policies } from "@pulumi/policy";
import { awsPolicies } from "./aws";
import { cloudflarePolicies } from "./cloudflare";
import { loadBalancerPolicies } from "./loadBalancer";
import { rdsPolicies } from "./rds";
import { rolloutPolicies } from "./rollout";
import { s3Policies } from "./s3";
import { vercelPolicies } from "./vercel";

export const ALL_POLICIES: Policies = [...awsPolicies, ...loadBalancerPolicies, ...rdsPolicies, ...s3Policies, ...cloudflarePolicies, ...vercelPolicies, ...rolloutPolicies];
