/**
 * The cluster and Docker footprint of gefyra-ts. Every name is distinct from upstream Gefyra
 * (namespace `gefyra`, group `gefyra.dev`, networks `gefyra-*`), so both can live side by side.
 */
export const NAMESPACE = "gefyra-ts";
export const CRD_GROUP = "gefyra-ts.dev";
export const CRD_VERSION = "v1alpha1";
export const API_VERSION = `${CRD_GROUP}/${CRD_VERSION}`;
export const CONNECTION_KIND = "Connection";
export const CONNECTION_PLURAL = "connections";
export const CONNECTION_CRD_NAME = `${CONNECTION_PLURAL}.${CRD_GROUP}`;

export const PART_OF_LABEL = "app.kubernetes.io/part-of";
export const PART_OF = "gefyra-ts";
export const COMPONENT_LABEL = "app.kubernetes.io/component";
export const CONNECTION_LABEL = `${CRD_GROUP}/connection`;

export const OPERATOR_NAME = "gefyra-ts-operator";
export const STOWAWAY_NAME = "stowaway";
export const STOWAWAY_KEY_SECRET = "stowaway-key";
export const STOWAWAY_PEERS_SECRET = "stowaway-peers";
export const STOWAWAY_CONTAINER = "stowaway";
export const STOWAWAY_LISTEN_PORT = 51820;

/** Tunnel subnet: Stowaway takes the first address, peers the following ones (one /32 each). */
export const DEFAULT_TUNNEL_SUBNET = "192.168.213.0/24";
export const DEFAULT_NODE_PORT = 31820;
export const DEFAULT_MTU = 1340;
export const DEFAULT_HEARTBEAT_TTL_SECONDS = 60;

/** Per-connection objects in NAMESPACE are all named `connection-<name>`. */
export const connectionObjectName = (connection: string): string => `connection-${connection}`;
/** Docker network and Cargo container of a connection. */
export const dockerNetworkName = (connection: string): string => `gefyra-ts-${connection}`;
export const cargoContainerName = (connection: string): string => `gefyra-ts-cargo-${connection}`;

export const IMAGE_NAMES = ["operator", "stowaway", "carrier", "cargo"] as const;
export type ImageName = (typeof IMAGE_NAMES)[number];
