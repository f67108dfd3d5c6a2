// @20minutes/s3rver 5.0.0 checks SigV4 signatures against a canonical URI it rebuilds from decoded route
// parameters; real clients sign the raw request path. Sign-check v4 against the raw path (idempotent).
const fs = require('node:fs')
const path = require('node:path')
const file = path.join(__dirname, 'node_modules/@20minutes/s3rver/lib/middleware/authentication.js')
const source = fs.readFileSync(file, 'utf8')
const from = '      uri: canonicalizedResource,'
const to = '      uri: request.signature.version === 4 ? ctx.path : canonicalizedResource,'
if (source.includes(to)) process.exit(0)
if (!source.includes(from)) {
  console.error('patch-s3rver: authentication.js is not the expected 5.0.0 source')
  process.exit(1)
}
fs.writeFileSync(file, source.replace(from, to))
