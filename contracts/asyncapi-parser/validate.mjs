// Parse an AsyncAPI document with the reference parser and print its diagnostics as JSON lines.
// Exit 0 when it parses without an error (warnings and hints are printed, not fatal), else 1.
// Usage: node validate.mjs PATH
import { Parser, fromFile } from '@asyncapi/parser';

const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, process.argv[2]).parse();
const errors = diagnostics.filter((d) => d.severity === 0);
for (const d of diagnostics) {
  console.log(JSON.stringify({ severity: d.severity, code: d.code, message: d.message, path: d.path }));
}
process.exit(errors.length === 0 && document ? 0 : 1);
