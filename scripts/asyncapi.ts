import { writeFileSync } from 'node:fs';
import { renderAsyncApiYaml } from '../app/events/asyncapi.ts';

/** `npm run asyncapi`: regenerates docs/asyncapi.yaml from the event catalogue. */
writeFileSync('docs/asyncapi.yaml', renderAsyncApiYaml());
process.stdout.write('wrote docs/asyncapi.yaml\n');
