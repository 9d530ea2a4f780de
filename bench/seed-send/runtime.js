// A minimal Node Lambda runtime: polls the Runtime API at AWS_LAMBDA_RUNTIME_API (the
// benchmark serves it on loopback) and runs the seed's handler for each event, as AWS's Node
// runtime does. SEED_DYNAMODB_ENDPOINT points aws-sdk v2's DynamoDB at the emulator;
// SEED_QUIET=1 silences console.log (the seed logs every post, which Lambda would ship to
// CloudWatch).
const http = require('http');
const AWS = require('aws-sdk');

if (process.env.SEED_DYNAMODB_ENDPOINT) {
  AWS.config.update({ dynamodb: { endpoint: process.env.SEED_DYNAMODB_ENDPOINT } });
}
if (process.env.SEED_QUIET === '1') {
  console.log = () => {};
}
const { handler } = require('./index.js');

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path, agent, headers: { 'content-type': 'application/json' } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ headers: res.headers, body: data }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

(async () => {
  for (;;) {
    const next = await call('GET', '/2018-06-01/runtime/invocation/next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    try {
      const result = await handler(JSON.parse(next.body), { awsRequestId: id }, () => {});
      await call('POST', `/2018-06-01/runtime/invocation/${id}/response`, JSON.stringify(result === undefined ? null : result));
    } catch (e) {
      await call('POST', `/2018-06-01/runtime/invocation/${id}/error`, JSON.stringify({ errorMessage: String(e) }));
    }
  }
})().catch((e) => { console.error(e); process.exit(1); });
