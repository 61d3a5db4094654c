// Request records as the inspector sees them: the filter language and the HAR export.
export * from "./record";
export * from "./filter";
export * from "./har";
