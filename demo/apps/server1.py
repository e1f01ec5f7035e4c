"""server1: a small bank on FastAPI, served by uvicorn (its access log is what rbeat ships)."""
from fastapi import FastAPI, HTTPException

app = FastAPI()
balance = {"value": 0}


@app.get("/deposit/{amount}")
def deposit(amount: int):
    balance["value"] += amount
    return {"balance": balance["value"]}


@app.get("/withdraw/{amount}")
def withdraw(amount: int):
    if amount > balance["value"]:
        raise HTTPException(status_code=400, detail="insufficient funds")
    balance["value"] -= amount
    return {"balance": balance["value"]}


@app.get("/balance")
def get_balance():
    return {"balance": balance["value"]}


@app.get("/account/{name}")
def account(name: str):
    raise HTTPException(status_code=404, detail=f"no account {name}")


@app.get("/crash")
def crash():
    raise RuntimeError("ledger unavailable")
