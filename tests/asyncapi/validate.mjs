// Checks AsyncAPI documents with the official parser: `node validate.mjs [FILE...]` (stdin without FILE).
// Prints every diagnostic; exits 1 if any document has an error-severity one or cannot be parsed.
import { readFileSync } from 'node:fs';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';

const parser = new Parser();
const severity = Object.fromEntries(Object.entries(DiagnosticSeverity).map(([name, level]) => [level, name]));
let failed = 0;

for (const source of process.argv.length > 2 ? process.argv.slice(2) : [undefined]) {
  const name = source ?? '(stdin)';
  const { document, diagnostics } = await parser.parse(readFileSync(source ?? 0, 'utf8'), source ? { source } : {});
  for (const d of diagnostics) {
    const where = d.path && d.path.length ? d.path.join('.') : '(document)';
    console.log(`${name}: ${severity[d.severity] ?? d.severity} ${d.code} at ${where}: ${d.message}`);
  }
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error).length;
  if (errors || document === undefined) {
    console.log(`${name}: invalid, ${errors} error(s)`);
    failed += 1;
  } else {
    console.log(`${name}: valid AsyncAPI ${document.version()}, ${document.channels().length} channel(s)`);
  }
}
process.exit(failed ? 1 : 0);
