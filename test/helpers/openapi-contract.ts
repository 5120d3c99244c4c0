import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';

/**
 * Checks an answer of the API against docs/openapi.json, the committed contract (which a test
 * keeps equal to what the API serves): the operation (method and path template) must document the
 * status; the answer's media type must be one documented for it (problem+json for errors), its body
 * must match that media type's schema, and a response documented without content must have none. A
 * request that no operation documents (an unknown route, another method) must get a 4xx problem. A
 * problem's type must point at the entry of its code in docs/errors.md.
 * helpers/http.ts runs it on every answer of a test API.
 */
export interface Answer {
  method: string;
  /** As requested: may hold a query string. */
  path: string;
  status: number;
  contentType: string | null;
  /** Parsed JSON, the text if it was not JSON, or null if empty. */
  body: unknown;
}

type Schema = Record<string, unknown>;
interface Response {
  content?: Record<string, { schema?: Schema }>;
}
interface Operation {
  responses: Record<string, Response>;
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

/** Served by the API but not operations of the contract: the contract itself, its UI, metrics. */
const OUTSIDE_THE_CONTRACT = [/^\/openapi\.json$/, /^\/docs(\/|$)/, /^\/metrics$/];
const PROBLEM = 'application/problem+json';

const doc = JSON.parse(readFileSync('docs/openapi.json', 'utf8')) as Document;
// OpenAPI 3.1 schemas are JSON Schema 2020-12 (plus annotations such as `example`); a 3.0
// document (`nullable`) would need a different reading.
if (!doc.openapi.startsWith('3.1.')) throw new Error(`docs/openapi.json is OpenAPI ${doc.openapi}, not 3.1`);

const ajv = new Ajv2020({ allErrors: true, strict: true });
// CommonJS: the default import is module.exports, whose `default` is the plugin.
ajvFormats.default(ajv);
ajv.addKeyword('example');
// Component schemas become one schema of $defs, so that `#/components/schemas/X` references,
// rewritten to point there, resolve wherever a response schema is compiled.
const COMPONENTS_ID = 'openapi-components';
const withResolvableRefs = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(withResolvableRefs);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, v]) => [
      key,
      key === '$ref' && typeof v === 'string'
        ? v.replace(/^#\/components\/schemas\//, `${COMPONENTS_ID}#/$defs/`)
        : withResolvableRefs(v),
    ]),
  );
};
ajv.addSchema({ $id: COMPONENTS_ID, $defs: withResolvableRefs(doc.components.schemas) });

const validators = new Map<string, ValidateFunction>();
function validatorFor(key: string, schema: Schema): ValidateFunction {
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile(withResolvableRefs(schema) as Schema);
    validators.set(key, validate);
  }
  return validate;
}

// Templates with fewer parameters first: a literal segment wins over a parameter.
const templates = Object.keys(doc.paths)
  .map((template) => ({
    template,
    pattern: new RegExp(`^${template.replace(/\{[^/}]+\}/g, '[^/]+')}$`),
    params: (template.match(/\{/g) ?? []).length,
  }))
  .sort((a, b) => a.params - b.params);

/** The path template documenting `pathname`, if any. */
export function templateOf(pathname: string): string | undefined {
  return templates.find((t) => t.pattern.test(pathname))?.template;
}

const mediaTypeOf = (contentType: string | null) => contentType?.split(';')[0]?.trim().toLowerCase() ?? '';

/** What in `answer` disagrees with docs/openapi.json; empty when it conforms. */
export function contractViolations(answer: Answer): string[] {
  // As fetch sends base URL + path: dot segments resolved; express matches with or without a
  // trailing slash.
  const pathname = new URL(`http://api${answer.path}`).pathname.replace(/(.)\/$/, '$1');
  if (OUTSIDE_THE_CONTRACT.some((p) => p.test(pathname))) return [];
  const mediaType = mediaTypeOf(answer.contentType);
  const template = templateOf(pathname);
  const operation = template ? doc.paths[template]?.[answer.method.toLowerCase()] : undefined;

  if (!template || !operation) {
    if (answer.status < 400 || answer.status >= 500)
      return [`no operation documents ${answer.method} ${pathname}, yet it answered ${answer.status}`];
    return checkBody('undocumented route', mediaType, answer, PROBLEM, doc.components.schemas.Problem);
  }
  const response =
    operation.responses[String(answer.status)] ??
    operation.responses[`${Math.floor(answer.status / 100)}XX`] ??
    operation.responses.default;
  if (!response) return [`status ${answer.status} is not documented for ${answer.method} ${template}`];
  const content = response.content ?? {};
  if (Object.keys(content).length === 0)
    return answer.body === null || answer.body === ''
      ? []
      : [`${answer.status} is documented without a body, yet it has one (${mediaType || 'no content-type'})`];
  const documented = content[mediaType];
  if (!documented)
    return [`content-type ${mediaType || '(none)'} is not one of ${Object.keys(content).join(', ')}`];
  return checkBody(
    `${answer.method} ${template} ${answer.status}`,
    mediaType,
    answer,
    mediaType,
    documented.schema,
  );
}

function checkBody(
  key: string,
  mediaType: string,
  answer: Answer,
  expectedMediaType: string,
  schema: Schema | undefined,
): string[] {
  if (mediaType !== expectedMediaType)
    return [`content-type ${mediaType || '(none)'} where ${expectedMediaType} is documented`];
  const problems: string[] = [];
  if (schema) {
    const validate = validatorFor(`${key} ${mediaType}`, schema);
    if (!validate(answer.body))
      problems.push(
        ...(validate.errors ?? []).map(
          (e) => `body${e.instancePath || ''} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`,
        ),
      );
  }
  if (mediaType === PROBLEM) {
    const problem = answer.body as { status?: unknown; code?: unknown; type?: unknown } | null;
    // RFC 9457: the problem's status is the response's.
    if (problem?.status !== answer.status)
      problems.push(`the problem's status is not the response's ${answer.status}`);
    if (typeof problem?.code === 'string' && !String(problem.type).endsWith(`#${problem.code.toLowerCase()}`))
      problems.push(
        `the problem's type is not the URI of its entry in docs/errors.md (#${problem.code.toLowerCase()})`,
      );
  }
  return problems;
}

/** Throws, naming each disagreement, unless `answer` conforms to docs/openapi.json. */
export function expectConformsToContract(answer: Answer): void {
  const problems = contractViolations(answer);
  if (problems.length === 0) return;
  throw new Error(
    `${answer.method} ${answer.path} answered ${answer.status}, which docs/openapi.json does not allow:\n` +
      `  ${problems.join('\n  ')}\n  body: ${JSON.stringify(answer.body)?.slice(0, 500)}`,
  );
}
