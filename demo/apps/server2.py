"""server2: the same bank on Flask, served by werkzeug (its access log is what rbeat ships)."""
import sys

from flask import Flask, abort, jsonify

app = Flask("server2")
balance = {"value": 0}


@app.get("/deposit/<int:amount>")
def deposit(amount):
    balance["value"] += amount
    return jsonify(balance=balance["value"])


@app.get("/withdraw/<int:amount>")
def withdraw(amount):
    if amount > balance["value"]:
        abort(400)
    balance["value"] -= amount
    return jsonify(balance=balance["value"])


@app.get("/balance")
def get_balance():
    return jsonify(balance=balance["value"])


@app.get("/account/<name>")
def account(name):
    abort(404)


@app.get("/crash")
def crash():
    raise RuntimeError("ledger unavailable")


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]))
