/**
 * Idempotent seed for a Store Platform Medusa store, run by bin/store-setup with
 * `medusa exec`.
 *
 * Why it is written as "find, else create" for every object: the setup Job may be retried
 * any number of times (a pod killed half-way, a second `store-setup`), and Medusa's
 * workflows are not idempotent by themselves (a second createRegionsWorkflow with the same
 * countries fails, a second createProductsWorkflow makes a duplicate). A second run finds
 * everything and changes nothing.
 *
 * Why the publishable key comes from the environment: the platform generates it
 * (`pk_` + 64 hex characters) and keeps it in the store's Secret, so the key never has to
 * travel back from the pod through logs. See ensurePublishableKey for how it is set.
 *
 * Nothing here prints a secret: the key is only ever logged in Medusa's own redacted form.
 */
import type { ExecArgs, IApiKeyModuleService, Logger } from "@medusajs/framework/types"
import { ContainerRegistrationKeys, Modules, ProductStatus } from "@medusajs/framework/utils"
import {
  createApiKeysWorkflow,
  createInventoryLevelsWorkflow,
  createProductsWorkflow,
  createRegionsWorkflow,
  createSalesChannelsWorkflow,
  createShippingOptionsWorkflow,
  createShippingProfilesWorkflow,
  createStockLocationsWorkflow,
  createTaxRegionsWorkflow,
  linkSalesChannelsToApiKeyWorkflow,
  linkSalesChannelsToStockLocationWorkflow,
  updateStoresWorkflow,
} from "@medusajs/medusa/core-flows"

const KEY_TITLE = "Store Platform storefront"
/** The key Medusa's createDefaultsWorkflow makes at first load; nobody knows its token. */
const MEDUSA_DEFAULT_KEY_TITLE = "Default Publishable API Key"
const REGION_NAME = "Europe"
const COUNTRIES = ["gb", "de", "dk", "se", "fr", "es", "it"]
const CURRENCIES = ["eur", "usd"]
const STOCK_LOCATION_NAME = "Main warehouse"
const FULFILLMENT_SET_NAME = "Main warehouse delivery"
const SHIPPING_OPTION_NAME = "Standard Shipping"
const PRODUCT_HANDLE = "sample-product"
const PRODUCT_TITLE = "Sample product"
const PRODUCT_SKU = "SAMPLE-PRODUCT"
const STOCKED_QUANTITY = 1000000
const FULFILLMENT_PROVIDER_ID = "manual_manual"
const PAYMENT_PROVIDER_ID = "pp_system_default"
const TAX_PROVIDER_ID = "tp_system"

/** Medusa's own redaction of a key (api-key module: first 6 and last 3 characters). */
function redact(token: string): string {
  return [token.slice(0, 6), token.slice(-3)].join("***")
}

function publishableKeyFromEnv(): string {
  const token = process.env.MEDUSA_PUBLISHABLE_KEY || ""
  if (!/^pk_[0-9a-f]{64}$/.test(token)) {
    throw new Error("MEDUSA_PUBLISHABLE_KEY must be pk_ followed by 64 lowercase hex characters")
  }
  return token
}

export default async function seed({ container }: ExecArgs): Promise<void> {
  const logger = container.resolve<Logger>(ContainerRegistrationKeys.LOGGER)
  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const link = container.resolve(ContainerRegistrationKeys.LINK)
  const token = publishableKeyFromEnv()
  const storeName = process.env.MEDUSA_STORE_NAME || "Medusa Store"
  const say = (message: string): void => logger.info(`seed: ${message}`)

  // -- store and its default sales channel (createDefaultsWorkflow made both at load) --
  const storeModule = container.resolve(Modules.STORE)
  const salesChannelModule = container.resolve(Modules.SALES_CHANNEL)
  const [store] = await storeModule.listStores({}, { relations: ["supported_currencies"] })
  if (!store) {
    throw new Error("Medusa did not create its default store at load; is the database migrated?")
  }
  let salesChannelId = store.default_sales_channel_id
  if (!salesChannelId) {
    const existing = await salesChannelModule.listSalesChannels({ name: "Default Sales Channel" })
    if (existing.length) {
      salesChannelId = existing[0].id
    } else {
      const { result } = await createSalesChannelsWorkflow(container).run({
        input: { salesChannelsData: [{ name: "Default Sales Channel" }] },
      })
      salesChannelId = result[0].id
    }
  }
  const currentCurrencies = (store.supported_currencies ?? []).map((c) => c.currency_code).sort()
  const storeIsCurrent =
    store.name === storeName &&
    store.default_sales_channel_id === salesChannelId &&
    JSON.stringify(currentCurrencies) === JSON.stringify([...CURRENCIES].sort()) &&
    (store.supported_currencies ?? []).some((c) => c.currency_code === CURRENCIES[0] && c.is_default)
  if (!storeIsCurrent) {
    await updateStoresWorkflow(container).run({
      input: {
        selector: { id: store.id },
        update: {
          name: storeName,
          default_sales_channel_id: salesChannelId,
          supported_currencies: CURRENCIES.map((code, index) => ({ currency_code: code, is_default: index === 0 })),
        },
      },
    })
    say("store updated (name, currencies, default sales channel)")
  }

  await ensurePublishableKey(container, token, salesChannelId, say)

  // -- region that takes the system payment provider --
  const regionModule = container.resolve(Modules.REGION)
  let [region] = await regionModule.listRegions({ name: REGION_NAME }, { relations: ["countries"] })
  if (!region) {
    const { result } = await createRegionsWorkflow(container).run({
      input: {
        regions: [
          { name: REGION_NAME, currency_code: "eur", countries: COUNTRIES, payment_providers: [PAYMENT_PROVIDER_ID] },
        ],
      },
    })
    region = result[0]
    say(`region ${REGION_NAME} created`)
  }

  // -- tax regions, one per country --
  const taxModule = container.resolve(Modules.TAX)
  const taxRegions = await taxModule.listTaxRegions({ country_code: COUNTRIES })
  const missingTax = COUNTRIES.filter((code) => !taxRegions.some((t) => t.country_code === code && !t.parent_id))
  if (missingTax.length) {
    await createTaxRegionsWorkflow(container).run({
      input: missingTax.map((country_code) => ({ country_code, provider_id: TAX_PROVIDER_ID })),
    })
    say(`tax regions created for ${missingTax.join(", ")}`)
  }

  // -- stock location, its fulfillment provider and sales channel --
  const stockLocationModule = container.resolve(Modules.STOCK_LOCATION)
  let [location] = await stockLocationModule.listStockLocations({ name: STOCK_LOCATION_NAME })
  if (!location) {
    const { result } = await createStockLocationsWorkflow(container).run({
      input: {
        locations: [{ name: STOCK_LOCATION_NAME, address: { city: "Copenhagen", country_code: "DK", address_1: "" } }],
      },
    })
    location = result[0]
    say(`stock location ${STOCK_LOCATION_NAME} created`)
  }
  const { data: locationLinks } = await query.graph({
    entity: "stock_location",
    fields: ["id", "fulfillment_providers.id", "fulfillment_sets.id", "sales_channels.id"],
    filters: { id: location.id },
  })
  const linked = locationLinks[0] as {
    fulfillment_providers?: { id: string }[]
    fulfillment_sets?: { id: string }[]
    sales_channels?: { id: string }[]
  }
  if (!(linked.fulfillment_providers ?? []).some((p) => p?.id === FULFILLMENT_PROVIDER_ID)) {
    await link.create({
      [Modules.STOCK_LOCATION]: { stock_location_id: location.id },
      [Modules.FULFILLMENT]: { fulfillment_provider_id: FULFILLMENT_PROVIDER_ID },
    })
    say(`stock location linked to ${FULFILLMENT_PROVIDER_ID}`)
  }
  if (!(linked.sales_channels ?? []).some((s) => s?.id === salesChannelId)) {
    await linkSalesChannelsToStockLocationWorkflow(container).run({
      input: { id: location.id, add: [salesChannelId] },
    })
    say("stock location linked to the default sales channel")
  }

  // -- shipping profile, fulfillment set with a service zone, shipping option --
  const fulfillmentModule = container.resolve(Modules.FULFILLMENT)
  let [profile] = await fulfillmentModule.listShippingProfiles({ type: "default" })
  if (!profile) {
    const { result } = await createShippingProfilesWorkflow(container).run({
      input: { data: [{ name: "Default Shipping Profile", type: "default" }] },
    })
    profile = result[0]
    say("shipping profile created")
  }
  let [fulfillmentSet] = await fulfillmentModule.listFulfillmentSets(
    { name: FULFILLMENT_SET_NAME },
    { relations: ["service_zones"] }
  )
  if (!fulfillmentSet) {
    fulfillmentSet = await fulfillmentModule.createFulfillmentSets({
      name: FULFILLMENT_SET_NAME,
      type: "shipping",
      service_zones: [
        {
          name: REGION_NAME,
          geo_zones: COUNTRIES.map((country_code) => ({ country_code, type: "country" as const })),
        },
      ],
    })
    say(`fulfillment set ${FULFILLMENT_SET_NAME} created`)
  }
  if (!(linked.fulfillment_sets ?? []).some((f) => f?.id === fulfillmentSet.id)) {
    await link.create({
      [Modules.STOCK_LOCATION]: { stock_location_id: location.id },
      [Modules.FULFILLMENT]: { fulfillment_set_id: fulfillmentSet.id },
    })
    say("stock location linked to the fulfillment set")
  }
  const serviceZoneId = fulfillmentSet.service_zones[0].id
  const shippingOptions = await fulfillmentModule.listShippingOptions({
    name: SHIPPING_OPTION_NAME,
    service_zone: { id: serviceZoneId },
  })
  if (!shippingOptions.length) {
    await createShippingOptionsWorkflow(container).run({
      input: [
        {
          name: SHIPPING_OPTION_NAME,
          price_type: "flat",
          provider_id: FULFILLMENT_PROVIDER_ID,
          service_zone_id: serviceZoneId,
          shipping_profile_id: profile.id,
          type: { label: "Standard", description: "Ships in 2-3 days.", code: "standard" },
          prices: [
            { currency_code: "eur", amount: 10 },
            { currency_code: "usd", amount: 10 },
            { region_id: region.id, amount: 10 },
          ],
          rules: [
            { attribute: "enabled_in_store", value: "true", operator: "eq" },
            { attribute: "is_return", value: "false", operator: "eq" },
          ],
        },
      ],
    })
    say(`shipping option ${SHIPPING_OPTION_NAME} created`)
  }

  // -- one product with stock at the location --
  const productModule = container.resolve(Modules.PRODUCT)
  const products = await productModule.listProducts({ handle: PRODUCT_HANDLE })
  if (!products.length) {
    await createProductsWorkflow(container).run({
      input: {
        products: [
          {
            title: PRODUCT_TITLE,
            handle: PRODUCT_HANDLE,
            description: "A product the platform adds so a new store can take an order at once.",
            status: ProductStatus.PUBLISHED,
            shipping_profile_id: profile.id,
            options: [{ title: "Size", values: ["One size"] }],
            variants: [
              {
                title: "One size",
                sku: PRODUCT_SKU,
                manage_inventory: true,
                options: { Size: "One size" },
                prices: [
                  { currency_code: "eur", amount: 20 },
                  { currency_code: "usd", amount: 25 },
                ],
              },
            ],
            sales_channels: [{ id: salesChannelId }],
          },
        ],
      },
    })
    say(`product "${PRODUCT_TITLE}" created`)
  }
  const inventoryModule = container.resolve(Modules.INVENTORY)
  const items = await inventoryModule.listInventoryItems({ sku: PRODUCT_SKU })
  if (!items.length) {
    throw new Error(`no inventory item for ${PRODUCT_SKU}: the product was created without managed inventory`)
  }
  const levels = await inventoryModule.listInventoryLevels({
    inventory_item_id: items.map((i) => i.id),
    location_id: location.id,
  })
  const missingLevels = items.filter((item) => !levels.some((l) => l.inventory_item_id === item.id))
  if (missingLevels.length) {
    await createInventoryLevelsWorkflow(container).run({
      input: {
        inventory_levels: missingLevels.map((item) => ({
          inventory_item_id: item.id,
          location_id: location.id,
          stocked_quantity: STOCKED_QUANTITY,
        })),
      },
    })
    say("inventory levels created")
  }
  say("done")
}

/**
 * Make the platform's token the store's publishable key, linked to the sales channel.
 *
 * The api-key module has no way to create a key with a given token: createApiKeys always
 * generates one (ApiKeyModuleService.generatePublishableKey) and updateApiKeys only
 * changes the title. So the key is created (or adopted) through the module, then its
 * `token` and `redacted` columns are set with one UPDATE through Medusa's own pg
 * connection. Why that is safe:
 * - publishable keys are stored unhashed: generatePublishableKey returns the token as its
 *   own "hash" with an empty salt ("These are public keys, so there is no point hashing
 *   them"), and `redacted` is first 6 + "***" + last 3 characters, computed here the same
 *   way; the row is exactly what the module would have written had it drawn this token;
 * - the storefront middleware (ensurePublishableApiKeyMiddleware) finds the key by
 *   `token` and `type = publishable`, and only secret keys go through the salted hash;
 * - the unique index on `token` rejects a clash, and the UPDATE is limited to one id of
 *   type publishable; it runs before the server starts, so no cache holds the old token.
 * Which key is adopted, in order: the one that already has this token (second run), one
 * with our title (a rotated token), Medusa's own default key (nobody knows its token),
 * else a new one; other keys an admin made are left alone.
 */
async function ensurePublishableKey(
  container: ExecArgs["container"],
  token: string,
  salesChannelId: string,
  say: (message: string) => void
): Promise<void> {
  const apiKeyModule = container.resolve<IApiKeyModuleService>(Modules.API_KEY)
  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const keys = (await apiKeyModule.listApiKeys({ type: "publishable" })).filter((k) => !k.revoked_at)
  let key =
    keys.find((k) => k.token === token) ??
    keys.find((k) => k.title === KEY_TITLE) ??
    keys.find((k) => k.title === MEDUSA_DEFAULT_KEY_TITLE)
  if (!key) {
    const { result } = await createApiKeysWorkflow(container).run({
      input: { api_keys: [{ title: KEY_TITLE, type: "publishable", created_by: "" }] },
    })
    key = result[0]
    say("publishable key created")
  }
  if (key.title !== KEY_TITLE) {
    await apiKeyModule.updateApiKeys(key.id, { title: KEY_TITLE })
  }
  if (key.token !== token) {
    const pg = container.resolve(ContainerRegistrationKeys.PG_CONNECTION)
    const updated = await pg("api_key")
      .where({ id: key.id, type: "publishable" })
      .update({ token, redacted: redact(token), updated_at: pg.fn.now() })
    if (updated !== 1) {
      throw new Error("could not set the publishable key's token")
    }
    say(`publishable key set to the platform's token (${redact(token)})`)
  }
  const { data } = await query.graph({
    entity: "api_key",
    fields: ["id", "sales_channels.id"],
    filters: { id: key.id },
  })
  const channels = ((data[0] as { sales_channels?: { id: string }[] }).sales_channels ?? []).map((s) => s?.id)
  if (!channels.includes(salesChannelId)) {
    await linkSalesChannelsToApiKeyWorkflow(container).run({ input: { id: key.id, add: [salesChannelId] } })
    say("publishable key linked to the default sales channel")
  }
}
