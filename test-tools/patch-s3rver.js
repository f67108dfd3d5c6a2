// Three fixes to @20minutes/s3rver 5.0.0 so it checks requests as S3 does (each idempotent):
// - it checks SigV4 signatures against a canonical URI it rebuilds from decoded route parameters; real clients sign
//   the raw request path. Sign-check v4 against the raw path.
// - its parseDate never falls back to the ISO 8601 basic format of x-amz-date (Number.isNaN of a Date object is
//   always false), so a SigV4 request is never refused as RequestTimeTooSkewed. Parse it, so a request signed more
//   than 15 minutes off the server's clock is refused, as S3 refuses it.
// - its PUT Object ignores If-None-Match. S3 (PutObject, "If-None-Match: Uploads the object only if the object key
//   name does not already exist in the bucket specified. Otherwise, Amazon S3 returns a 412 Precondition Failed
//   error.", https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html) and MinIO refuse a put with
//   "If-None-Match: *" over an existing key with 412 PreconditionFailed, after authentication. Do the same (without
//   S3's atomicity: two such puts racing can both pass here, S3 answers the loser 409).
// - its PUT Object writes the body straight to the object's file, so an upload cut short (a client killed mid-body)
//   leaves a partial object behind, and a server stopped between the body and its metadata leaves an object without
//   an ETag. S3 stores an object only once its whole body has arrived, with its metadata. Write beside the object,
//   write its metadata, then rename it into place; remove the partial file when the body fails.
const fs = require('node:fs')
const path = require('node:path')
const lib = path.join(__dirname, 'node_modules/@20minutes/s3rver/lib')
const patches = [
  ['middleware/authentication.js', '      uri: canonicalizedResource,', '      uri: request.signature.version === 4 ? ctx.path : canonicalizedResource,'],
  ['utils.js', '  if (Number.isNaN(date)) {', '  if (Number.isNaN(date.getTime())) {'],
  ['stores/filesystem.js',
    '    const [size, md5] = await this.putContent(objectPath, object.content)\n' +
    '    await this.putMetadata(object.bucket, object.key, object.metadata, md5)\n',
    '    const partPath = `${objectPath}.partial-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`\n' +
    '    let size, md5\n' +
    '    try {\n' +
    '      ;[size, md5] = await this.putContent(partPath, object.content)\n' +
    '    } catch (err) {\n' +
    '      await fs.rm(partPath, { force: true })\n' +
    '      throw err\n' +
    '    }\n' +
    '    await this.putMetadata(object.bucket, object.key, object.metadata, md5)\n' +
    '    await fs.rename(partPath, objectPath)\n'],
  ['controllers/object.js',
    '  aws4SignatureBodyParser(ctx)\n  const object = new S3Object(ctx.params.bucket, ctx.params.key, ctx.request.body, ctx.headers)\n',
    '  aws4SignatureBodyParser(ctx)\n' +
    "  if (ctx.headers['if-none-match'] === '*' && (await ctx.store.existsObject(ctx.params.bucket, ctx.params.key))) {\n" +
    "    throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-None-Match' })\n" +
    '  }\n' +
    '  const object = new S3Object(ctx.params.bucket, ctx.params.key, ctx.request.body, ctx.headers)\n'],
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
