// Two fixes to @20minutes/s3rver 5.0.0 so it checks requests as S3 does (each idempotent):
// - it checks SigV4 signatures against a canonical URI it rebuilds from decoded route parameters; real clients sign
//   the raw request path. Sign-check v4 against the raw path.
// - its parseDate never falls back to the ISO 8601 basic format of x-amz-date (Number.isNaN of a Date object is
//   always false), so a SigV4 request is never refused as RequestTimeTooSkewed. Parse it, so a request signed more
//   than 15 minutes off the server's clock is refused, as S3 refuses it.
const fs = require('node:fs')
const path = require('node:path')
const lib = path.join(__dirname, 'node_modules/@20minutes/s3rver/lib')
const patches = [
  ['middleware/authentication.js', '      uri: canonicalizedResource,', '      uri: request.signature.version === 4 ? ctx.path : canonicalizedResource,'],
  ['utils.js', '  if (Number.isNaN(date)) {', '  if (Number.isNaN(date.getTime())) {'],
]
for (const [name, from, to] of patches) {
  const file = path.join(lib, name)
  const source = fs.readFileSync(file, 'utf8')
  if (source.includes(to)) continue
  if (!source.includes(from)) {
    console.error(`patch-s3rver: ${name} is not the expected 5.0.0 source`)
    process.exit(1)
  }
  fs.writeFileSync(file, source.replace(from, to))
}
