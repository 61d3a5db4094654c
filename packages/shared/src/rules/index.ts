// Route rules shared by Carrier, the operator and the server/CLI. Import as
// `@gefyra/shared/src/rules` or by relative path (not re-exported from the package index).
export * from "./routes";
export { compileSafeRegex, checkSafeRegex, RegexSyntaxError, MAX_PATTERN_LENGTH, MAX_PROGRAM_SIZE, type SafeRegex } from "./regex";
