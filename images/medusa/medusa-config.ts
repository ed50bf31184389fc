/**
 * Medusa configuration for every store that Store Platform provisions.
 *
 * Why everything comes from the environment: one image serves every store, and the
 * platform gives each pod its own database, secrets and host names through the store's
 * Kubernetes Secret. The variables are the contract between this image and the `medusa`
 * engine (see README.md next to this file); nothing here may print them.
 */
import { defineConfig, loadEnv, Modules } from "@medusajs/framework/utils"

loadEnv(process.env.NODE_ENV || "production", process.cwd())

type WorkerMode = "shared" | "server" | "worker"

/** "shared" runs the HTTP server and the background worker in one process (one pod). */
function workerMode(): WorkerMode {
  const mode = process.env.MEDUSA_WORKER_MODE || "shared"
  if (mode !== "shared" && mode !== "server" && mode !== "worker") {
    throw new Error(`MEDUSA_WORKER_MODE must be shared, server or worker (got "${mode}")`)
  }
  return mode
}

function flag(name: string): boolean {
  return (process.env[name] || "").toLowerCase() === "true"
}

const redisUrl = process.env.REDIS_URL || undefined

/**
 * With Redis, the event bus, workflow engine, cache and locking live in Redis, so a
 * server Deployment and a worker Deployment share them. Without it Medusa uses its
 * in-memory modules, which is only correct for one shared-mode process.
 */
const redisModules = redisUrl
  ? [
      { key: Modules.EVENT_BUS, resolve: "@medusajs/medusa/event-bus-redis", options: { redisUrl } },
      { key: Modules.CACHE, resolve: "@medusajs/medusa/cache-redis", options: { redisUrl } },
      {
        key: Modules.WORKFLOW_ENGINE,
        resolve: "@medusajs/medusa/workflow-engine-redis",
        options: { redis: { redisUrl } },
      },
      {
        key: Modules.LOCKING,
        resolve: "@medusajs/medusa/locking",
        options: {
          providers: [
            {
              id: "locking-redis",
              resolve: "@medusajs/medusa/locking-redis",
              is_default: true,
              options: { redisUrl },
            },
          ],
        },
      },
    ]
  : []

/**
 * Medusa marks the admin session cookie Secure whenever NODE_ENV=production, so admin
 * login only works behind HTTPS. MEDUSA_INSECURE_COOKIES=true (local http use only)
 * overrides it through projectConfig.cookieOptions, which Medusa spreads over its session
 * cookie defaults (@medusajs/framework http/express-loader).
 */
const cookieOptions = flag("MEDUSA_INSECURE_COOKIES") ? { secure: false, sameSite: "lax" as const } : undefined

module.exports = defineConfig({
  projectConfig: {
    databaseUrl: process.env.DATABASE_URL,
    redisUrl,
    workerMode: workerMode(),
    ...(cookieOptions ? { cookieOptions } : {}),
    http: {
      storeCors: process.env.STORE_CORS || "",
      adminCors: process.env.ADMIN_CORS || "",
      authCors: process.env.AUTH_CORS || "",
      jwtSecret: process.env.JWT_SECRET,
      cookieSecret: process.env.COOKIE_SECRET,
    },
  },
  admin: {
    disable: flag("DISABLE_MEDUSA_ADMIN"),
  },
  modules: redisModules,
})
