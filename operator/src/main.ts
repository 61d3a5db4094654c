/** Entry point of the operator image: in-cluster config, settings from the environment. */
import * as k8s from "@kubernetes/client-node";
import { DEFAULT_TUNNEL_SUBNET, NAMESPACE } from "@gefyra/shared";
import { Operator } from "./operator";

const kc = new k8s.KubeConfig();
if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
else kc.loadFromDefault();

const operator = new Operator(kc, {
  namespace: process.env.GEFYRA_NAMESPACE ?? NAMESPACE,
  tunnelSubnet: process.env.GEFYRA_TUNNEL_SUBNET ?? DEFAULT_TUNNEL_SUBNET,
  carrierImage: process.env.GEFYRA_CARRIER_IMAGE ?? `gefyra-ts/carrier:${process.env.GEFYRA_VERSION ?? "0.1.0"}`,
});

const shutdown = (signal: string) => {
  console.log(`${new Date().toISOString()} ${signal}: stopping`);
  void operator.stop().finally(() => process.exit(0));
};
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));

operator.start().catch((error: unknown) => {
  console.error(`operator failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
