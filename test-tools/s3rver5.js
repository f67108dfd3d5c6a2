// Starts @20minutes/s3rver 5.0.0 (it ships no bin): node s3rver5.js -d <dir> -a <address> -p <port> [...]
require('./node_modules/@20minutes/s3rver/lib/cli.js').parseAsync(process.argv).catch((err) => {
  console.error(err.message)
  process.exit(1)
})
