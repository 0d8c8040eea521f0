import hashlib
import os
import pickle
import ssl
import subprocess

import requests
import yaml
from flask import request, send_file


def find_user(cursor, user_id, name):
    # ruleid: python-sql-injection
    cursor.execute(f"SELECT * FROM users WHERE id = {user_id}")
    # ruleid: python-sql-injection
    cursor.execute("SELECT * FROM users WHERE name = '%s'" % name)
    # ruleid: python-sql-injection
    cursor.execute("SELECT * FROM users WHERE name = '{}'".format(name))
    # ruleid: python-sql-injection
    cursor.execute("SELECT * FROM users WHERE name = '" + name + "'")
    query = "DELETE FROM users WHERE id = %s" % user_id
    # ruleid: python-sql-injection
    cursor.execute(query)
    # ok: python-sql-injection
    cursor.execute("SELECT * FROM users WHERE id = %s", (user_id,))
    # ok: python-sql-injection
    cursor.execute("SELECT count(*) FROM users")


def run(cmd, branch):
    # ruleid: python-command-injection
    subprocess.run(cmd, shell=True)
    # ruleid: python-command-injection
    subprocess.call("git checkout " + branch, shell=True)
    # ruleid: python-command-injection
    os.system("rm -rf " + branch)
    # ok: python-command-injection
    subprocess.run(["git", "checkout", branch])
    # ok: python-command-injection
    subprocess.run("ls -l", shell=True)
    # ok: python-command-injection
    os.system("uptime")


def download():
    name = request.args.get("name")
    # ruleid: python-path-traversal
    with open("/srv/files/" + name) as f:
        data = f.read()
    # ruleid: python-path-traversal
    return send_file(os.path.join("/srv/files", name))


def static_file():
    # ok: python-path-traversal
    return send_file("/srv/files/index.html")


def proxy():
    url = request.args["url"]
    # ruleid: python-ssrf
    return requests.get(url, timeout=5).text


def fixed_fetch():
    # ok: python-ssrf
    return requests.get("https://api.example.com/status", timeout=5).text


def load(blob, text):
    # ruleid: python-unsafe-deserialization
    obj = pickle.loads(blob)
    # ruleid: python-unsafe-deserialization
    cfg = yaml.load(text)
    # ok: python-unsafe-deserialization
    safe = yaml.safe_load(text)
    # ok: python-unsafe-deserialization
    also_safe = yaml.load(text, Loader=yaml.SafeLoader)
    return obj, cfg, safe, also_safe


def digests(data):
    # ruleid: python-weak-hash
    a = hashlib.md5(data).hexdigest()
    # ruleid: python-weak-hash
    b = hashlib.sha1(data).hexdigest()
    # ok: python-weak-hash
    c = hashlib.sha256(data).hexdigest()
    # ok: python-weak-hash
    d = hashlib.md5(data, usedforsecurity=False).hexdigest()
    return a, b, c, d


def fetch_insecure(url):
    # ruleid: python-tls-verification-disabled
    requests.get(url, verify=False, timeout=5)
    # ruleid: python-tls-verification-disabled
    context = ssl._create_unverified_context()
    # ok: python-tls-verification-disabled
    requests.get(url, timeout=5)
    return context


# ruleid: python-hardcoded-secret
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
# ruleid: python-hardcoded-secret
db_password = "hunter2-but-longer"
# ok: python-hardcoded-secret
db_password_env = os.environ.get("DB_PASSWORD")
# ok: python-hardcoded-secret
api_token = ""
