import { writeFileSync } from 'node:fs';
// Each route file registers its paths as it loads; the app's module loads them all.
import '../app/http/app.ts';
import { openApiDocument } from '../app/http/openapi.ts';

/** `npm run openapi`: regenerates docs/openapi.json, the document the API serves at /openapi.json. */
writeFileSync('docs/openapi.json', `${JSON.stringify(openApiDocument(), null, 2)}\n`);
process.stdout.write('wrote docs/openapi.json\n');
