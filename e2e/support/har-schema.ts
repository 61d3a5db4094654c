// HAR 1.2 as the spec defines it (the same schema as packages/shared/src/traffic/har.test.ts), for
// end-to-end tests that validate HAR files made from real traffic (CLI, tRPC, the dashboard download).
import { z } from "zod";


// HAR 1.2 as the spec defines it: every field the spec does not mark optional is required here,
// with its type; custom fields must start with "_". Numbers the spec allows to be -1 ("not
// available") are checked for that, timings send/wait/receive must be non-negative.
const nameValue = z.object({ name: z.string(), value: z.string(), comment: z.string().optional() }).strict();
const custom = (shape: z.ZodRawShape) =>
  z
    .object(shape)
    .catchall(z.unknown())
    .superRefine((value, ctx) => {
      for (const key of Object.keys(value)) {
        if (!(key in shape) && !key.startsWith("_")) ctx.addIssue({ code: "custom", message: `unknown field ${key} (custom fields start with _)`, path: [key] });
      }
    });
const sizeOrUnknown = z.number().int().min(-1);
const isoDate = z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
export const HarSchema = z
  .object({
    log: custom({
      version: z.literal("1.2"),
      creator: custom({ name: z.string().min(1), version: z.string().min(1), comment: z.string().optional() }),
      browser: custom({ name: z.string(), version: z.string(), comment: z.string().optional() }).optional(),
      pages: z.array(z.unknown()).optional(),
      entries: z.array(
        custom({
          pageref: z.string().optional(),
          startedDateTime: isoDate,
          time: z.number().min(0),
          request: custom({
            method: z.string().min(1),
            url: z.string().regex(/^https?:\/\/[^/]+\//),
            httpVersion: z.string(),
            cookies: z.array(nameValue),
            headers: z.array(nameValue),
            queryString: z.array(nameValue),
            postData: custom({ mimeType: z.string(), params: z.array(z.unknown()).optional(), text: z.string().optional(), comment: z.string().optional() }).optional(),
            headersSize: sizeOrUnknown,
            bodySize: sizeOrUnknown,
            comment: z.string().optional(),
          }),
          response: custom({
            status: z.number().int().min(0),
            statusText: z.string(),
            httpVersion: z.string(),
            cookies: z.array(nameValue),
            headers: z.array(nameValue),
            content: custom({
              size: z.number().int().min(0),
              compression: z.number().int().optional(),
              mimeType: z.string(),
              text: z.string().optional(),
              encoding: z.string().optional(),
              comment: z.string().optional(),
            }),
            redirectURL: z.string(),
            headersSize: sizeOrUnknown,
            bodySize: sizeOrUnknown,
            comment: z.string().optional(),
          }),
          cache: custom({ beforeRequest: z.unknown().optional(), afterRequest: z.unknown().optional(), comment: z.string().optional() }),
          timings: custom({
            blocked: z.number().min(-1).optional(),
            dns: z.number().min(-1).optional(),
            connect: z.number().min(-1).optional(),
            send: z.number().min(0),
            wait: z.number().min(0),
            receive: z.number().min(0),
            ssl: z.number().min(-1).optional(),
            comment: z.string().optional(),
          }),
          serverIPAddress: z.string().optional(),
          connection: z.string().optional(),
          comment: z.string().optional(),
        }).superRefine((e, ctx) => {
          // entry.time is the sum of the timings that are not -1
          const t = e.timings as Record<string, number | undefined>;
          const sum = ["blocked", "dns", "connect", "send", "wait", "receive"].reduce((acc, k) => acc + (t[k] !== undefined && t[k] !== -1 ? t[k] : 0), 0);
          if (Math.abs(sum - (e.time as number)) > 1e-6) ctx.addIssue({ code: "custom", message: `time ${String(e.time)} is not the sum of timings ${sum}`, path: ["time"] });
        }),
      ),
      comment: z.string().optional(),
    }),
  })
  .strict();
