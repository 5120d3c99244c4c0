import fc from 'fast-check';
import { signPayload } from '../../app/gateway/signature.ts';
import { openApiDocument } from '../../app/http/openapi.ts';

/**
 * Requests for the fuzz test (test/fuzz.test.ts), generated from the API's own zod schemas: the
 * routes, their parameters and bodies come from the OpenAPI document the route files register
 * next to the schemas that validate them (app/http/openapi.ts), so a new route or field is fuzzed
 * without touching this file. Each request starts valid (a value of the schema) and is then, most
 * of the time, mutated: wrong types, missing and unknown fields, huge numbers, NUL characters,
 * unicode, deep nesting, broken JSON; ids that are not UUIDs, traversal, bad percent-encoding;
 * odd Idempotency-Key, Content-Type, Prefer, Authorization and signature headers; unknown, repeated
 * and malformed query parameters, forged cursors; other methods, unknown routes.
 */
export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** The operation it was made from, for the report. */
  route: string;
}

export interface FuzzContext {
  /** Ids that exist, so that some requests get past the 404s. */
  walletIds: string[];
  paymentIds: string[];
  adminToken: string;
  /** A read-write API key of the owner of walletIds and paymentIds. */
  apiKey: string;
  secrets: { alpha: string; beta: string };
}

type Schema = {
  $ref?: string;
  example?: unknown;
  type?: string | string[];
  enum?: unknown[];
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema | boolean;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
};
interface Parameter {
  in: 'path' | 'query' | 'header';
  name: string;
  schema: Schema;
}
interface Operation {
  method: string;
  template: string;
  parameters: Parameter[];
  body?: Schema;
}

const doc = openApiDocument() as {
  paths: Record<
    string,
    Record<
      string,
      { parameters?: Parameter[]; requestBody?: { content: Record<string, { schema: Schema }> } }
    >
  >;
  components: { schemas: Record<string, Schema> };
};

export const operations: Operation[] = Object.entries(doc.paths).flatMap(([template, ops]) =>
  Object.entries(ops).map(([method, op]) => ({
    method: method.toUpperCase(),
    template,
    parameters: op.parameters ?? [],
    body: op.requestBody?.content['application/json']?.schema,
  })),
);

/** Percent-encodes the UTF-8 bytes (a lone surrogate becomes U+FFFD, as on the wire). */
const enc = (s: string) =>
  [...Buffer.from(s, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');

const resolve = (schema: Schema): Schema =>
  schema.$ref ? resolve(doc.components.schemas[schema.$ref.split('/').at(-1) as string] as Schema) : schema;

const printable = fc.string({ unit: 'grapheme-ascii', maxLength: 24 });
const headerSafe = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
});

/** Strings a validator must refuse or store as they are. */
const nastyString = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    'a\u0000b',
    '\u0000',
    '💥🔥',
    'e\u0301',
    '\u202eRTL',
    "'; drop table wallets; --",
    '%00',
    '../../etc/passwd',
    '\ud800',
    'null',
    '1e309',
    'x'.repeat(600),
  ),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
);

const nastyNumber = fc.constantFrom(
  0,
  -0,
  -1,
  0.5,
  1e308,
  -1e308,
  2 ** 53,
  2 ** 53 + 2,
  1_000_000_000_001,
  Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER,
  2 ** 31,
  2 ** 63,
);

const deep = (levels: number, leaf: unknown, asArray: boolean): unknown => {
  let value = leaf;
  for (let i = 0; i < levels; i++) value = asArray ? [value] : { a: value };
  return value;
};

const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  nastyString,
  nastyNumber,
  fc.constantFrom(null, true, false, {}, [], { __proto__: { x: 1 } }, { constructor: 'x' }),
  fc.tuple(fc.integer({ min: 1, max: 80 }), fc.boolean()).map(([n, asArray]) => deep(n, 1, asArray)),
  fc.jsonValue({ maxDepth: 3 }),
);

/** A value the schema accepts (ids from `ctx` where the schema wants a UUID, sometimes). */
export function validValue(raw: Schema, ctx: FuzzContext): fc.Arbitrary<unknown> {
  const schema = resolve(raw);
  // The documented example (a currency the wallets hold, say) gets requests past validation.
  if (schema.example !== undefined)
    return fc.oneof(
      { arbitrary: fc.constant(schema.example), weight: 2 },
      { arbitrary: validValue({ ...schema, example: undefined }, ctx), weight: 1 },
    );
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const union = schema.anyOf ?? schema.oneOf;
  if (union) return fc.oneof(...union.map((s) => validValue(s, ctx)));
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.includes('null') && types.length > 1) {
    const rest = types.filter((t): t is string => t !== 'null' && t !== undefined);
    return fc.option(validValue({ ...schema, type: rest.length === 1 ? rest[0] : rest }, ctx), { nil: null });
  }
  switch (types[0]) {
    case 'string':
      if (schema.format === 'uuid')
        return fc.oneof(
          { arbitrary: fc.constantFrom(...ctx.walletIds, ...ctx.paymentIds), weight: 3 },
          { arbitrary: fc.uuid(), weight: 1 },
        );
      if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern));
      // Any string may be read as an id (a webhook's charge reference is a payment id).
      return fc.oneof(
        {
          arbitrary: fc.string({
            minLength: schema.minLength ?? 0,
            maxLength: Math.min(schema.maxLength ?? 40, 40),
          }),
          weight: 4,
        },
        { arbitrary: fc.constantFrom(...ctx.walletIds, ...ctx.paymentIds), weight: 1 },
      );
    case 'integer': {
      const min =
        schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : -1000);
      const max = schema.maximum ?? 1_000_000;
      // Mostly small amounts, so that wallets can pay; sometimes anywhere in the range.
      return fc.oneof(
        { arbitrary: fc.integer({ min, max: Math.min(max, min + 5000) }), weight: 4 },
        { arbitrary: fc.bigInt(BigInt(min), BigInt(max)).map(Number), weight: 1 },
      );
    }
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(schema.items ? validValue(schema.items, ctx) : fc.jsonValue({ maxDepth: 2 }), {
        maxLength: 4,
      });
    case 'object': {
      const properties = schema.properties ?? {};
      const known = fc.record(
        Object.fromEntries(Object.entries(properties).map(([k, s]) => [k, validValue(s, ctx)])),
        { requiredKeys: schema.required ?? [] },
      );
      const extra = schema.additionalProperties;
      if (!extra || typeof extra !== 'object') return known;
      return fc
        .tuple(
          known,
          fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), validValue(extra, ctx), { maxKeys: 3 }),
        )
        .map(([k, more]) => ({ ...more, ...k }));
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** Every (parent, key) inside a JSON value, the root's parent being undefined. */
function slots(value: unknown): Array<{ parent: Record<string, unknown> | unknown[]; key: string | number }> {
  const found: Array<{ parent: Record<string, unknown> | unknown[]; key: string | number }> = [];
  const walk = (v: unknown) => {
    if (!v || typeof v !== 'object') return;
    const entries: Array<[string | number, unknown]> = Array.isArray(v)
      ? [...v.entries()]
      : Object.entries(v);
    for (const [key, item] of entries) {
      found.push({ parent: v as Record<string, unknown> | unknown[], key });
      walk(item);
    }
  };
  walk(value);
  return found;
}

type Mutation = 'keep' | 'replace' | 'delete' | 'add' | 'root';
/** A valid value, or the same with one thing wrong. */
function mutated(valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc
    .tuple(
      valid,
      fc.constantFrom<Mutation>(
        'keep',
        'keep',
        'keep',
        'keep',
        'replace',
        'replace',
        'delete',
        'add',
        'root',
      ),
      fc.nat(),
      nastyValue,
      fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', '')),
    )
    .map(([value, how, pick, replacement, newKey]) => {
      const copy = structuredClone(value);
      if (how === 'keep') return copy;
      if (how === 'root') return replacement;
      const places = slots(copy);
      const place = places[pick % Math.max(places.length, 1)];
      if (how === 'add' && copy && typeof copy === 'object' && !Array.isArray(copy))
        return Object.assign(copy, { [newKey]: replacement });
      if (!place) return replacement;
      if (how === 'delete' && !Array.isArray(place.parent)) delete place.parent[place.key as string];
      else (place.parent as Record<string | number, unknown>)[place.key] = replacement;
      return copy;
    });
}

/** The wire form of a body: JSON of a (mutated) value, or text that is not JSON at all. */
function bodyText(valid: fc.Arbitrary<unknown>): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { arbitrary: mutated(valid).map((v) => JSON.stringify(v) ?? 'undefined'), weight: 12 },
    {
      arbitrary: fc.constantFrom(
        '',
        '{',
        '{"amount": 1,}',
        'null',
        '"a string"',
        '[]',
        'NaN',
        '\u0000',
        '{"amount": 1e999999}',
        `{"amount": 1, "amount": 2}`,
      ),
      weight: 2,
    },
    { arbitrary: fc.constant(undefined), weight: 1 },
    { arbitrary: fc.constant(JSON.stringify({ pad: 'x'.repeat(110_000) })), weight: 1 },
    {
      arbitrary: fc.integer({ min: 30, max: 20_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
      weight: 1,
    },
  );
}

/** A path parameter: an id that exists, any UUID, or something that is not one. */
function pathParam(param: Parameter, ctx: FuzzContext): fc.Arbitrary<string> {
  const weird = fc.oneof(
    fc.constantFrom(
      '..',
      '%2e%2e',
      '%00',
      '%ZZ',
      '%',
      '%c0%ae',
      'a%2Fb',
      '%F0%9F%92%A5',
      '0',
      '-1',
      '99999999999999999999',
      'x'.repeat(2000),
      "1'%20or%20'1'='1",
      '00000000-0000-0000-0000-000000000000',
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
      '6F1C2B1E-9A9B-4C1E-8D1E-0A0B0C0D0E0F',
      '--------------------------------------',
    ),
    printable.filter((s) => s.length > 0).map(encodeURIComponent),
  );
  const valid = validValue(param.schema, ctx).map((v) => enc(String(v)));
  return fc.oneof({ arbitrary: valid, weight: 3 }, { arbitrary: weird, weight: 1 });
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
const cursor = fc.oneof(
  fc
    .tuple(fc.date({ noInvalidDate: true }), fc.stringMatching(/^[0-9a-f-]{30,40}$/))
    .map(([d, id]) => b64(`t:${d.toISOString()}|${id}`)),
  fc
    .tuple(fc.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3,6}Z$/), fc.uuid())
    .map(([d, id]) => b64(`t:${d}|${id}`)),
  fc.bigInt({ min: -1n, max: 10n ** 20n }).map((n) => b64(`p:${n}`)),
  fc.string({ maxLength: 60 }).map(b64),
  fc.string({ maxLength: 60 }),
);

/** Query parameters: the schema's, some wrong, some unknown, some twice. */
function queryString(params: Parameter[], ctx: FuzzContext, wellFormed = false): fc.Arbitrary<string> {
  const pairs = params.map((p) =>
    fc.option(
      wellFormed
        ? validValue(p.schema, ctx).map(String)
        : fc.oneof(
            { arbitrary: validValue(p.schema, ctx).map(String), weight: 3 },
            { arbitrary: p.name === 'cursor' ? cursor : nastyString, weight: 2 },
            { arbitrary: nastyNumber.map(String), weight: 1 },
          ),
      { nil: undefined },
    ),
  );
  if (wellFormed)
    return fc
      .tuple(...pairs)
      .map((values) =>
        params.flatMap((p, i) => (values[i] === undefined ? [] : [`${p.name}=${enc(values[i] as string)}`])),
      )
      .map((parts) => (parts.length > 0 ? `?${parts.join('&')}` : ''));
  return fc
    .tuple(
      fc.tuple(...pairs),
      fc.option(fc.tuple(fc.constantFrom('offset', 'a[b]', 'limit', 'status', '__proto__', ''), printable)),
      fc.boolean(),
    )
    .map(([values, extra, encodeNul]) => {
      const parts = params.flatMap((p, i) =>
        values[i] === undefined ? [] : [`${p.name}=${enc(values[i] as string)}`],
      );
      if (extra) parts.push(`${enc(extra[0])}=${enc(extra[1])}`);
      if (encodeNul && parts.length > 0) parts.push(`${params[0]?.name ?? 'x'}=%00`);
      return parts.length > 0 ? `?${parts.join('&')}` : '';
    });
}

const contentType = fc.oneof(
  { arbitrary: fc.constant('application/json'), weight: 10 },
  {
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8',
      'application/problem+json',
      'APPLICATION/JSON',
      'application/json; charset=latin1',
      'application/json; charset=utf-16',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/',
      ';;;',
    ),
    weight: 2,
  },
  { arbitrary: fc.constant(undefined), weight: 1 },
);

/** Idempotency keys from a small pool (so keys are reused, with the same body or another), or odd. */
const idempotencyKey = fc.oneof(
  { arbitrary: fc.constantFrom('k-1', 'k-2', 'k-3'), weight: 3 },
  { arbitrary: fc.uuid(), weight: 4 },
  { arbitrary: fc.constantFrom('', ' ', 'k'.repeat(255), 'k'.repeat(256), 'é-latin1-\u00ff'), weight: 1 },
  { arbitrary: headerSafe, weight: 1 },
  { arbitrary: fc.constant(undefined), weight: 1 },
);

const prefer = fc.option(
  fc.constantFrom(
    'wait=0',
    'wait=1',
    'wait=2',
    'wait=-1',
    'wait=abc',
    'wait=99999999',
    'respond-async, wait=1',
    'x',
  ),
  { nil: undefined },
);

/** One request for one operation of the document, or for a path no route has. */
export function fuzzRequest(ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const perOperation = operations.map((op) => {
    const pathParams = op.parameters.filter((p) => p.in === 'path');
    const queryParams = op.parameters.filter((p) => p.in === 'query');
    return fc
      .record({
        method: fc.oneof(
          { arbitrary: fc.constant(op.method), weight: 9 },
          { arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'), weight: 1 },
        ),
        params: fc.tuple(...pathParams.map((p) => pathParam(p, ctx))),
        query: queryString(queryParams, ctx),
        validQuery: queryString(
          queryParams.filter((p) => p.name !== 'cursor'),
          ctx,
          true,
        ),
        // A third of the requests are well-formed (a valid body, JSON, a fresh key), so that the
        // run also creates wallets, deposits, payments and refunds, and reaches what lies past
        // validation; the rest have at least a chance of something wrong.
        clean: fc.oneof(
          { arbitrary: fc.constant(true), weight: 1 },
          { arbitrary: fc.constant(false), weight: 2 },
        ),
        validBody: op.body ? validValue(op.body, ctx).map((v) => JSON.stringify(v)) : fc.constant(undefined),
        freshKey: fc.uuid(),
        body: op.body
          ? bodyText(validValue(op.body, ctx))
          : fc.option(bodyText(fc.jsonValue()), { freq: 4, nil: undefined }),
        contentType,
        key: idempotencyKey,
        alias: fc.boolean(),
        prefer,
        // Mostly the right credential, so that hostile input also reaches what lies behind it.
        admin: fc.oneof(
          { arbitrary: fc.constant('right'), weight: 4 },
          { arbitrary: fc.constant('wrong'), weight: 1 },
          { arbitrary: fc.constant('none'), weight: 1 },
        ),
        signed: fc.boolean(),
        traceparent: fc.option(
          fc.oneof(headerSafe, fc.constant('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')),
        ),
        requestId: fc.option(headerSafe),
      })
      .map((generated) => {
        const r = generated.clean
          ? {
              ...generated,
              method: op.method,
              query: generated.validQuery,
              body: generated.validBody,
              contentType: 'application/json',
              key: generated.freshKey,
              admin: 'right',
              signed: true,
            }
          : generated;
        let i = 0;
        const path = op.template.replace(/\{[^}]+\}/g, () => r.params[i++] ?? '');
        const headers: Record<string, string> = {};
        if (r.body !== undefined && r.contentType) headers['content-type'] = r.contentType;
        if (r.key !== undefined) headers[r.alias ? 'x-idempotent-key' : 'idempotency-key'] = r.key;
        if (r.prefer) headers.prefer = r.prefer;
        // The admin token on /admin, an API key anywhere else (webhooks ignore both).
        const credential = op.template.startsWith('/admin') ? ctx.adminToken : ctx.apiKey;
        if (r.admin === 'right') headers.authorization = `Bearer ${credential}`;
        if (r.admin === 'wrong') headers.authorization = 'Bearer not-the-token-0123456789';
        if (r.traceparent) headers.traceparent = r.traceparent;
        if (r.requestId) headers['x-request-id'] = r.requestId;
        const provider = path.split('/').at(-1) as string;
        if (op.template.startsWith('/webhooks/') && r.signed) {
          const secret = provider === 'beta' ? ctx.secrets.beta : ctx.secrets.alpha;
          headers['gateway-signature'] = signPayload(secret, r.body ?? '');
        }
        return {
          method: r.method,
          path: `${path}${r.query}`,
          headers,
          body: r.body,
          route: `${op.method} ${op.template}`,
        };
      });
  });
  const elsewhere = fc
    .record({
      method: fc.constantFrom('GET', 'POST', 'DELETE'),
      path: fc.oneof(
        fc.constantFrom(
          '/',
          '/wallets',
          '/payments/',
          '/health',
          '/health/ready',
          '/health/live',
          '/openapi.json',
          '//',
          '/%',
          '/wallets/%ZZ',
          '/admin',
          '/webhooks/gateway/',
        ),
        printable.map((s) => `/${enc(s)}/${enc(s)}`),
      ),
      body: fc.option(bodyText(fc.jsonValue())),
    })
    .map((r) => ({
      method: r.method,
      path: r.path,
      headers: (r.body === null || r.body === undefined
        ? {}
        : { 'content-type': 'application/json' }) as Record<string, string>,
      body: r.body ?? undefined,
      route: 'elsewhere',
    }));
  return fc.oneof(...perOperation.map((arbitrary) => ({ arbitrary, weight: 3 })), {
    arbitrary: elsewhere,
    weight: 2,
  });
}
