/**
 * A linear-time regular-expression engine for route rules (decision 0011).
 *
 * Route regexes run on every request in Carrier and are written by developers, so a pattern must
 * never be able to stall the proxy. V8's RegExp backtracks (`(a+)+$` on "aaaa…b" is exponential,
 * `a*a*a*b` is polynomial), so rules do not use it: this module parses a subset of ECMAScript
 * syntax and runs it as a Thompson NFA (Pike VM). Cost is O(program size × input length), always.
 *
 * Supported: literals, `.`, classes `[a-z\d]` / `[^…]`, escapes `\d \D \w \W \s \S \b \B \n \r \t
 * \f \v \0 \xHH \uHHHH \u{H…}` and escaped punctuation, anchors `^ $`, groups `( )`, `(?: )`,
 * `(?<name> )`, alternation `|`, quantifiers `* + ? {n} {n,} {n,m}` (lazy `?` suffix accepted; it
 * changes nothing for a yes/no match). Refused with a sentence: backreferences (`\1`, `\k<n>`),
 * lookarounds (`(?=` `(?!` `(?<=` `(?<!`), Unicode property escapes, patterns longer than
 * MAX_PATTERN_LENGTH, and programs larger than MAX_PROGRAM_SIZE after expanding `{n,m}`.
 * Matching is unanchored (like RegExp#test) over Unicode code points; no flags.
 */

export const MAX_PATTERN_LENGTH = 256;
export const MAX_PROGRAM_SIZE = 1000;

export class RegexSyntaxError extends Error {
  override readonly name = "RegexSyntaxError";
}

type CharTest = (c: number) => boolean;
type Node =
  | { t: "char"; test: CharTest }
  | { t: "cat"; items: Node[] }
  | { t: "alt"; items: Node[] }
  | { t: "rep"; node: Node; min: number; max: number }
  | { t: "assert"; kind: Assertion };
type Assertion = "bol" | "eol" | "wordb" | "nwordb";

type Instr =
  | { op: "char"; test: CharTest }
  | { op: "split"; x: number; y: number }
  | { op: "jmp"; x: number }
  | { op: "assert"; kind: Assertion }
  | { op: "match" };

export interface SafeRegex {
  readonly source: string;
  /** True when the pattern matches somewhere in `input`. */
  test(input: string): boolean;
  /** Number of VM thread additions of the last test(); bounded by programSize × (input code points + 1) × 2. */
  readonly lastSteps: number;
  readonly programSize: number;
}

/** Compile `pattern` or throw RegexSyntaxError with a one-line reason. */
export function compileSafeRegex(pattern: string): SafeRegex {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new RegexSyntaxError(`the pattern is ${pattern.length} characters long; the limit is ${MAX_PATTERN_LENGTH}`);
  }
  const ast = new Parser(pattern).parse();
  const prog: Instr[] = [];
  emit(ast, prog);
  prog.push({ op: "match" });
  return new PikeVm(pattern, prog);
}

/** Validation only: undefined when the pattern is accepted, else the reason. */
export function checkSafeRegex(pattern: string): string | undefined {
  try {
    compileSafeRegex(pattern);
    return undefined;
  } catch (e) {
    if (e instanceof RegexSyntaxError) return e.message;
    throw e;
  }
}

// ---------------------------------------------------------------- parser

const isDigit: CharTest = (c) => c >= 48 && c <= 57;
const isWord: CharTest = (c) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isSpace: CharTest = (c) =>
  c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
  c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
const isLineTerminator: CharTest = (c) => c === 10 || c === 13 || c === 0x2028 || c === 0x2029;
const not = (f: CharTest): CharTest => (c) => !f(c);
const SYNTAX_CHARS = "^$\\.*+?()[]{}|/-";

class Parser {
  private readonly cps: number[];
  private i = 0;
  constructor(private readonly src: string) {
    this.cps = Array.from(src, (ch) => ch.codePointAt(0) ?? 0);
  }

  parse(): Node {
    const node = this.alt();
    if (this.i < this.cps.length) this.fail(`unmatched ')' at position ${this.i}`);
    return node;
  }

  private fail(why: string): never {
    throw new RegexSyntaxError(why);
  }
  private peek(off = 0): number | undefined {
    return this.cps[this.i + off];
  }
  private startsWith(s: string): boolean {
    for (let k = 0; k < s.length; k++) if (this.cps[this.i + k] !== s.charCodeAt(k)) return false;
    return true;
  }

  private alt(): Node {
    const items = [this.concat()];
    while (this.peek() === 0x7c /* | */) {
      this.i++;
      items.push(this.concat());
    }
    return items.length === 1 ? items[0]! : { t: "alt", items };
  }

  private concat(): Node {
    const items: Node[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === 0x7c || c === 0x29 /* ) */) break;
      items.push(this.repeat());
    }
    return items.length === 1 ? items[0]! : { t: "cat", items };
  }

  private repeat(): Node {
    const at = this.i;
    const atom = this.atom();
    const q = this.quantifier();
    if (!q) return atom;
    if (atom.t === "assert") this.fail(`nothing to repeat at position ${at}: an anchor cannot take a quantifier`);
    if (this.peek() === 0x3f /* lazy ? */) this.i++;
    const c = this.peek();
    if (c === 0x2a || c === 0x2b || c === 0x3f || (c === 0x7b && this.quantifierAhead())) {
      this.fail(`two quantifiers in a row at position ${this.i}`);
    }
    return { t: "rep", node: atom, min: q.min, max: q.max };
  }

  private quantifierAhead(): boolean {
    const save = this.i;
    try {
      return this.quantifier() !== undefined;
    } catch {
      return false;
    } finally {
      this.i = save;
    }
  }

  private quantifier(): { min: number; max: number } | undefined {
    const c = this.peek();
    if (c === 0x2a) return this.i++, { min: 0, max: Infinity };
    if (c === 0x2b) return this.i++, { min: 1, max: Infinity };
    if (c === 0x3f) return this.i++, { min: 0, max: 1 };
    if (c !== 0x7b) return undefined;
    const m = /^\{(\d{1,4})(,(\d{0,4}))?\}/.exec(String.fromCodePoint(...this.cps.slice(this.i, this.i + 12)));
    if (!m) this.fail(`'{' at position ${this.i} does not start a quantifier {n}, {n,} or {n,m}; write \\{ for a literal brace`);
    this.i += m[0].length;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
    if (max < min) this.fail(`quantifier {${min},${max}} has its numbers out of order`);
    return { min, max };
  }

  private atom(): Node {
    const at = this.i;
    const c = this.peek()!;
    switch (c) {
      case 0x28 /* ( */: {
        this.i++;
        if (this.startsWith("?=") || this.startsWith("?!") || this.startsWith("?<=") || this.startsWith("?<!")) {
          this.fail(`lookarounds are not supported (position ${at}); they need a backtracking engine`);
        }
        if (this.startsWith("?:")) this.i += 2;
        else if (this.startsWith("?<")) {
          const close = this.cps.indexOf(0x3e /* > */, this.i);
          if (close < 0) this.fail(`unterminated group name at position ${at}`);
          this.i = close + 1;
        } else if (this.peek() === 0x3f) this.fail(`unsupported group syntax '(?' at position ${at}`);
        const inner = this.alt();
        if (this.peek() !== 0x29) this.fail(`missing ')' for the group opened at position ${at}`);
        this.i++;
        return inner;
      }
      case 0x29:
        this.fail(`unmatched ')' at position ${at}`);
      // falls through (fail never returns)
      case 0x2a:
      case 0x2b:
      case 0x3f:
        this.fail(`nothing to repeat at position ${at}`);
      // falls through
      case 0x7b:
        if (this.quantifierAhead()) this.fail(`nothing to repeat at position ${at}`);
        this.fail(`'{' at position ${at} must be escaped as \\{`);
      // falls through
      case 0x5b /* [ */:
        return this.charClass();
      case 0x2e /* . */:
        this.i++;
        return { t: "char", test: not(isLineTerminator) };
      case 0x5e:
        this.i++;
        return { t: "assert", kind: "bol" };
      case 0x24:
        this.i++;
        return { t: "assert", kind: "eol" };
      case 0x5c /* \ */: {
        const e = this.escape(false);
        return typeof e === "string" ? { t: "assert", kind: e } : { t: "char", test: e };
      }
      default:
        this.i++;
        return { t: "char", test: (x) => x === c };
    }
  }

  /** After a backslash; returns a char test, or an assertion name outside classes. */
  private escape(inClass: boolean): CharTest | "wordb" | "nwordb" {
    const at = this.i;
    this.i++; // the backslash
    const c = this.peek();
    if (c === undefined) this.fail("the pattern ends with a lone backslash");
    this.i++;
    const ch = String.fromCodePoint(c);
    const lit = (v: number): CharTest => (x) => x === v;
    switch (ch) {
      case "d": return isDigit;
      case "D": return not(isDigit);
      case "w": return isWord;
      case "W": return not(isWord);
      case "s": return isSpace;
      case "S": return not(isSpace);
      case "n": return lit(10);
      case "r": return lit(13);
      case "t": return lit(9);
      case "f": return lit(12);
      case "v": return lit(11);
      case "b":
        if (inClass) return lit(8);
        return "wordb";
      case "B":
        if (inClass) this.fail(`\\B is not allowed inside a character class (position ${at})`);
        return "nwordb";
      case "0":
        if (this.peek() !== undefined && isDigit(this.peek()!)) this.fail(`octal escapes are not supported (position ${at})`);
        return lit(0);
      case "x": {
        const hex = String.fromCodePoint(...this.cps.slice(this.i, this.i + 2));
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) this.fail(`\\x at position ${at} needs two hex digits`);
        this.i += 2;
        return lit(parseInt(hex, 16));
      }
      case "u": {
        if (this.peek() === 0x7b) {
          const close = this.cps.indexOf(0x7d, this.i);
          const hex = close < 0 ? "" : String.fromCodePoint(...this.cps.slice(this.i + 1, close));
          if (!/^[0-9a-fA-F]{1,6}$/.test(hex) || parseInt(hex, 16) > 0x10ffff) this.fail(`bad \\u{…} escape at position ${at}`);
          this.i = close + 1;
          return lit(parseInt(hex, 16));
        }
        const hex = String.fromCodePoint(...this.cps.slice(this.i, this.i + 4));
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail(`\\u at position ${at} needs four hex digits`);
        this.i += 4;
        return lit(parseInt(hex, 16));
      }
      case "k":
        this.fail(`backreferences are not supported (\\k at position ${at}); they need a backtracking engine`);
      // falls through
      case "p":
      case "P":
        this.fail(`Unicode property escapes (\\${ch}{…}) are not supported (position ${at})`);
      // falls through
      default:
        if (c >= 0x31 && c <= 0x39) {
          this.fail(`backreferences are not supported (\\${ch} at position ${at}); they need a backtracking engine`);
        }
        if (SYNTAX_CHARS.includes(ch) || (inClass && ch === "-")) return lit(c);
        if (c < 128 && /[A-Za-z0-9_]/.test(ch)) this.fail(`unknown escape \\${ch} at position ${at}`);
        return lit(c); // escaped punctuation or non-ASCII stands for itself
    }
  }

  private charClass(): Node {
    const at = this.i;
    this.i++; // [
    let negate = false;
    if (this.peek() === 0x5e) {
      negate = true;
      this.i++;
    }
    const parts: CharTest[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail(`missing ']' for the class opened at position ${at}`);
      if (c === 0x5d) {
        this.i++;
        break;
      }
      const lo = this.classAtom();
      if (this.peek() === 0x2d /* - */ && this.peek(1) !== undefined && this.peek(1) !== 0x5d) {
        this.i++;
        const hi = this.classAtom();
        if (typeof lo !== "number" || typeof hi !== "number") this.fail(`a class range at position ${at} uses a class escape as an end`);
        if (hi < lo) this.fail(`class range out of order at position ${at}`);
        parts.push((x) => x >= lo && x <= hi);
      } else {
        parts.push(typeof lo === "number" ? (x) => x === lo : lo);
      }
    }
    const any: CharTest = (x) => parts.some((p) => p(x));
    return { t: "char", test: negate ? not(any) : any };
  }

  /** A single code point (number) or a class escape like \d (function). */
  private classAtom(): number | CharTest {
    const c = this.peek()!;
    if (c !== 0x5c) {
      this.i++;
      return c;
    }
    const before = this.i;
    const e = this.escape(true);
    if (typeof e === "string") this.fail(`bad escape in class at position ${before}`);
    // single-character escapes come back as `x === v` tests; recover v for ranges
    const src = String.fromCodePoint(...this.cps.slice(before + 1, this.i));
    const single: Record<string, number> = { n: 10, r: 13, t: 9, f: 12, v: 11, b: 8, "0": 0 };
    if (src in single) return single[src]!;
    if (/^x[0-9a-fA-F]{2}$/.test(src)) return parseInt(src.slice(1), 16);
    if (/^u[0-9a-fA-F]{4}$/.test(src)) return parseInt(src.slice(1), 16);
    if (/^u\{[0-9a-fA-F]+\}$/.test(src)) return parseInt(src.slice(2, -1), 16);
    if (src.length === 1 && !/[dDwWsS]/.test(src)) return src.codePointAt(0)!;
    return e;
  }
}

// ---------------------------------------------------------------- compiler

function emit(node: Node, prog: Instr[]): void {
  if (prog.length > MAX_PROGRAM_SIZE) {
    throw new RegexSyntaxError(`the pattern expands to more than ${MAX_PROGRAM_SIZE} steps; use smaller {n,m} counts`);
  }
  switch (node.t) {
    case "char":
      prog.push({ op: "char", test: node.test });
      return;
    case "assert":
      prog.push({ op: "assert", kind: node.kind });
      return;
    case "cat":
      for (const n of node.items) emit(n, prog);
      return;
    case "alt": {
      // split L1, next; L1: a; jmp end; next: split L2, ... ; last alternative without split
      const jumps: Instr[] = [];
      node.items.forEach((n, idx) => {
        if (idx < node.items.length - 1) {
          const split: Instr = { op: "split", x: prog.length + 1, y: -1 };
          prog.push(split);
          emit(n, prog);
          const j: Instr = { op: "jmp", x: -1 };
          prog.push(j);
          jumps.push(j);
          split.y = prog.length;
        } else {
          emit(n, prog);
        }
      });
      for (const j of jumps) if (j.op === "jmp") j.x = prog.length;
      return;
    }
    case "rep": {
      for (let k = 0; k < node.min; k++) emit(node.node, prog);
      if (node.max === Infinity) {
        const split: Instr = { op: "split", x: prog.length + 1, y: -1 };
        const loop = prog.length;
        prog.push(split);
        emit(node.node, prog);
        prog.push({ op: "jmp", x: loop });
        split.y = prog.length;
      } else {
        const splits: Instr[] = [];
        for (let k = node.min; k < node.max; k++) {
          const split: Instr = { op: "split", x: prog.length + 1, y: -1 };
          prog.push(split);
          splits.push(split);
          emit(node.node, prog);
        }
        for (const s of splits) if (s.op === "split") s.y = prog.length;
      }
      if (prog.length > MAX_PROGRAM_SIZE) {
        throw new RegexSyntaxError(`the pattern expands to more than ${MAX_PROGRAM_SIZE} steps; use smaller {n,m} counts`);
      }
      return;
    }
  }
}

// ---------------------------------------------------------------- Pike VM

class PikeVm implements SafeRegex {
  lastSteps = 0;
  readonly programSize: number;
  private readonly marks: Uint32Array;
  private gen = 0;
  private steps = 0;

  constructor(
    readonly source: string,
    private readonly prog: Instr[],
  ) {
    this.programSize = prog.length;
    this.marks = new Uint32Array(prog.length);
  }

  test(input: string): boolean {
    const cps = Array.from(input, (ch) => ch.codePointAt(0) ?? 0);
    const n = cps.length;
    let clist: number[] = [];
    let nlist: number[] = [];
    this.steps = 0;
    this.gen++;
    try {
      for (let i = 0; i <= n; i++) {
        // unanchored search: a new thread starts at every position
        this.add(clist, 0, cps, i);
        this.gen++;
        nlist = [];
        for (const pc of clist) {
          const ins = this.prog[pc]!;
          if (ins.op === "match") return true;
          if (ins.op === "char" && i < n && ins.test(cps[i]!)) this.add(nlist, pc + 1, cps, i + 1);
        }
        clist = nlist;
      }
      return false;
    } finally {
      this.lastSteps = this.steps;
      if (this.gen > 0xfffffff0) {
        this.marks.fill(0);
        this.gen = 0;
      }
    }
  }

  private add(list: number[], pc: number, cps: number[], i: number): void {
    if (this.marks[pc] === this.gen) return;
    this.marks[pc] = this.gen;
    this.steps++;
    const ins = this.prog[pc]!;
    switch (ins.op) {
      case "jmp":
        this.add(list, ins.x, cps, i);
        return;
      case "split":
        this.add(list, ins.x, cps, i);
        this.add(list, ins.y, cps, i);
        return;
      case "assert":
        if (holds(ins.kind, cps, i)) this.add(list, pc + 1, cps, i);
        return;
      default:
        list.push(pc);
    }
  }
}

function holds(kind: Assertion, cps: number[], i: number): boolean {
  switch (kind) {
    case "bol":
      return i === 0;
    case "eol":
      return i === cps.length;
    case "wordb":
    case "nwordb": {
      const before = i > 0 && isWord(cps[i - 1]!);
      const after = i < cps.length && isWord(cps[i]!);
      return (before !== after) === (kind === "wordb");
    }
  }
}
