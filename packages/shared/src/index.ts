export * from "./constants";
export * from "./connection";
export * from "./cidr";
export * from "./images";
export * from "./manifests";
export * from "./traffic";
export * from "./carrier-launch";
export * from "./bridge-profile";
