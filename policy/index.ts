/**
 * The pack's entry file: the only place a `PolicyPack` is constructed, because constructing
 * one starts the analyzer's gRPC server. Policies live in modules of their own, one per domain,
 * so tests and the offline check import them without starting anything.
 */
import { PolicyPack } from "@pulumi/policy";
import { ALL_POLICIES } from "./policies";

new PolicyPack("pakashop-infra", { policies: ALL_POLICIES });
