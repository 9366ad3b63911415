// The Express side of the interoperability tests: express-session + connect-redis on the
// test's Redis, configured by the JSON file named on the command line (tests/express/__init__.py).
"use strict"

const fs = require("fs")
const express = require("express")
const session = require("express-session")
const {RedisStore} = require("connect-redis")
const {createClient} = require("redis")

const conf = JSON.parse(fs.readFileSync(process.argv[2], "utf8"))

async function main() {
  const client = createClient({url: conf.redisUrl})
  client.on("error", (err) => console.error("redis:", err))
  await client.connect()

  const app = express()
  app.use(
    session({
      store: new RedisStore({client, prefix: conf.prefix, ttl: conf.ttl}),
      secret: conf.secret,
      name: conf.name,
      resave: conf.resave,
      saveUninitialized: conf.saveUninitialized,
      rolling: conf.rolling,
      cookie: {maxAge: conf.maxAge, httpOnly: true, sameSite: "lax", path: "/"},
    }),
  )

  // Held requests (the concurrency tests): /hold waits, once its session is loaded, until
  // /release; /entered answers once a /hold has entered.
  let entered = null
  let enter = null
  let release = null
  const resetHold = () => {
    entered = new Promise((resolve) => (enter = resolve))
  }
  resetHold()

  app.get("/read", (req, res) => {
    const data = {...req.session}
    delete data.cookie
    res.json({id: req.sessionID, data, cookie: req.session.cookie})
  })
  app.get("/write", (req, res) => {
    for (const [key, value] of Object.entries(req.query)) req.session[key] = JSON.parse(value)
    res.json({id: req.sessionID})
  })
  app.get("/login", (req, res, next) => {
    // A login as the express-session docs write it: a new id, then the user.
    const kept = {...req.session}
    delete kept.cookie
    req.session.regenerate((err) => {
      if (err) return next(err)
      Object.assign(req.session, kept)
      req.session.userId = Number(req.query.uid)
      res.json({id: req.sessionID})
    })
  })
  app.get("/regenerate", (req, res, next) => {
    const kept = {...req.session}
    delete kept.cookie
    req.session.regenerate((err) => {
      if (err) return next(err)
      Object.assign(req.session, kept)
      res.json({id: req.sessionID})
    })
  })
  app.get("/logout", (req, res, next) => {
    req.session.destroy((err) => (err ? next(err) : res.json({ok: true})))
  })
  app.get("/remember", (req, res) => {
    // A cookie change alone is no change to express-session: the flag makes it save.
    req.session.cookie.maxAge = Number(req.query.ms)
    req.session.remember = true
    res.json({id: req.sessionID})
  })
  app.get("/hold", async (req, res) => {
    const released = new Promise((resolve) => (release = resolve))
    enter()
    await released
    resetHold()
    for (const [key, value] of Object.entries(req.query)) req.session[key] = JSON.parse(value)
    res.json({id: req.sessionID})
  })
  app.get("/entered", async (req, res) => {
    await entered
    res.json({ok: true})
  })
  app.get("/release", (req, res) => {
    release()
    res.json({ok: true})
  })
  app.use((err, req, res, next) => {
    console.error(err)
    res.status(500).json({error: String(err)})
  })

  app.listen(conf.port, "127.0.0.1", () => console.log("listening on", conf.port))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
