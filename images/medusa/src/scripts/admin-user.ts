/**
 * Create the store's admin user if it is missing; run by bin/store-setup with `medusa exec`.
 *
 * Why not `medusa user -e EMAIL -p PASSWORD`: it exits 1 when the user exists (so a retried
 * setup Job would fail), and it takes the password on the command line, where any process
 * can read it. This script reads MEDUSA_ADMIN_EMAIL and MEDUSA_ADMIN_PASSWORD from the
 * environment and does the same steps as the CLI (create the user, register the emailpass
 * identity, link them), each only when missing, so a half-finished earlier run is
 * completed rather than duplicated. An existing password is never changed.
 */
import type { ExecArgs, Logger } from "@medusajs/framework/types"
import { ContainerRegistrationKeys, FeatureFlag, Modules } from "@medusajs/framework/utils"
import { createUsersWorkflow } from "@medusajs/medusa/core-flows"

const PROVIDER = "emailpass"

export default async function adminUser({ container }: ExecArgs): Promise<void> {
  const logger = container.resolve<Logger>(ContainerRegistrationKeys.LOGGER)
  const email = (process.env.MEDUSA_ADMIN_EMAIL || "").trim().toLowerCase()
  const password = process.env.MEDUSA_ADMIN_PASSWORD || ""
  if (!email.includes("@")) {
    throw new Error("MEDUSA_ADMIN_EMAIL is not set to an e-mail address")
  }
  if (password.length < 8) {
    throw new Error("MEDUSA_ADMIN_PASSWORD is missing or shorter than 8 characters")
  }
  const userModule = container.resolve(Modules.USER)
  const authModule = container.resolve(Modules.AUTH)

  let [user] = await userModule.listUsers({ email })
  if (!user) {
    let roles: string[] = []
    if (FeatureFlag.isFeatureEnabled("rbac")) {
      const rbac = container.resolve(Modules.RBAC)
      const superAdmin = await rbac.listRbacRoles({ id: "role_super_admin" })
      roles = superAdmin.map((role: { id: string }) => role.id)
    }
    const { result } = await createUsersWorkflow(container).run({ input: { users: [{ email, roles }] } })
    user = result[0]
    logger.info("admin-user: user created")
  }

  const identities = await authModule.listProviderIdentities({ entity_id: email, provider: PROVIDER })
  let authIdentityId = identities[0]?.auth_identity_id
  if (!authIdentityId) {
    const { authIdentity, error } = await authModule.register(PROVIDER, { body: { email, password } })
    if (error || !authIdentity) {
      throw new Error(`could not register the admin's login: ${error ?? "no identity returned"}`)
    }
    authIdentityId = authIdentity.id
    logger.info("admin-user: login registered")
  }
  const identity = await authModule.retrieveAuthIdentity(authIdentityId)
  if (identity.app_metadata?.user_id !== user.id) {
    await authModule.updateAuthIdentities({
      id: authIdentityId,
      app_metadata: { ...identity.app_metadata, user_id: user.id },
    })
    logger.info("admin-user: login linked to the user")
  }
  logger.info("admin-user: done")
}
