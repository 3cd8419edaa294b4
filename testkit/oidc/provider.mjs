// The tests' OpenID provider: panva's certified oidc-provider with its development login form
// (any login and password; the login is the account's id). Its clients and accounts come from
// OIDC_CONFIG (JSON): {"port", "clients": [{client_id, client_secret, redirect_uris}],
// "accounts": {"<login>": {claims}}}; an account not listed gets {email: login, verified}.
import Provider from "oidc-provider";

const config = JSON.parse(process.env.OIDC_CONFIG);
const issuer = `http://127.0.0.1:${config.port}`;

const provider = new Provider(issuer, {
  clients: config.clients.map((client) => ({
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
    ...client,
  })),
  scopes: ["openid", "email", "profile"],
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "given_name", "family_name", "groups"],
  },
  async findAccount(ctx, id) {
    const claims = config.accounts[id] ?? {};
    return {
      accountId: id,
      async claims() {
        return { email: id, email_verified: true, groups: [], ...claims, sub: id };
      },
    };
  },
  // Consent is given: the tests sign in, they do not grant scopes one by one.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope("openid email profile");
    await grant.save();
    return grant;
  },
  pkce: { required: () => true },
  cookies: { keys: ["test-only-cookie-key"] },
  features: { devInteractions: { enabled: true } },
});
provider.on("server_error", (ctx, error) => console.error("server_error", error));
provider.listen(config.port, "127.0.0.1", () => console.log(`listening ${issuer}`));
