const crypto = require('crypto');
const fs = require('fs');
const https = require('https');
const cp = require('child_process');
const axios = require('axios');
const serialize = require('node-serialize');

async function findUser(db, id, name) {
  // ruleid: js-sql-injection
  await db.query(`SELECT * FROM users WHERE id = ${id}`);
  // ruleid: js-sql-injection
  await db.query("SELECT * FROM users WHERE name = '" + name + "'");
  // ok: js-sql-injection
  await db.query('SELECT * FROM users WHERE id = $1', [id]);
  // ok: js-sql-injection
  const matches = /user-(\d+)/.exec(name);
  return matches;
}

function run(branch) {
  // ruleid: js-command-injection
  cp.exec('git checkout ' + branch);
  // ruleid: js-command-injection
  cp.execSync(`rm -rf ${branch}`);
  // ok: js-command-injection
  cp.execFile('git', ['checkout', branch]);
  // ok: js-command-injection
  cp.exec('uptime');
}

function download(req, res) {
  // ruleid: js-path-traversal
  const data = fs.readFileSync('/srv/files/' + req.query.name);
  // ruleid: js-path-traversal
  res.sendFile(req.params.file);
  // ok: js-path-traversal
  res.sendFile('/srv/files/index.html');
  return data;
}

async function proxy(req, res) {
  // ruleid: js-ssrf
  const page = await fetch(req.query.url);
  // ruleid: js-ssrf
  const other = await axios.get(req.body.target);
  // ok: js-ssrf
  const status = await fetch('https://api.example.com/status');
  res.send([page, other, status]);
}

function load(text) {
  // ruleid: js-unsafe-deserialization
  const a = eval('(' + text + ')');
  // ruleid: js-unsafe-deserialization
  const b = serialize.unserialize(text);
  // ok: js-unsafe-deserialization
  const c = JSON.parse(text);
  return [a, b, c];
}

function digests(data) {
  // ruleid: js-weak-hash
  const a = crypto.createHash('md5').update(data).digest('hex');
  // ruleid: js-weak-hash
  const b = crypto.createHash('sha1').update(data).digest('hex');
  // ok: js-weak-hash
  const c = crypto.createHash('sha256').update(data).digest('hex');
  return [a, b, c];
}

// ruleid: js-tls-verification-disabled
const insecure = new https.Agent({ rejectUnauthorized: false });
// ok: js-tls-verification-disabled
const secure = new https.Agent({ keepAlive: true });

// ruleid: js-hardcoded-secret
const awsKey = 'AKIAIOSFODNN7EXAMPLE';
// ruleid: js-hardcoded-secret
const dbPassword = 'hunter2-but-longer';
// ok: js-hardcoded-secret
const apiToken = process.env.API_TOKEN;

module.exports = { findUser, run, download, proxy, load, digests, insecure, secure, awsKey, dbPassword, apiToken };
