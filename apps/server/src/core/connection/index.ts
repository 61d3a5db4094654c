/**
 * The Connection capability: `up` makes a Docker network on this machine part of the cluster
 * network through WireGuard (Cargo <-> Stowaway). Used by the CLI, tRPC and the tests.
 */
export { up, down, status, uninstall, readConnection, defaultConnectionName, dnsSearch } from "./connection";
export type { UpOptions, UpProgress, UpStep, ConnectionInfo, DownOptions, DownProgress, DownResult, StatusOptions, StatusReport, ConnectionReport, UninstallProgress } from "./connection";
export { install, renderManifests } from "./install";
export type { InstallOptions, InstallProgress, InstallResult, InstallSettings } from "./install";
export type { ClusterOptions } from "./cluster";
