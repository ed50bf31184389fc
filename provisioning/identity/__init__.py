"""Identity beyond passwords: personal API tokens (`tokens.TokenService`)."""

from provisioning.identity.tokens import TOKEN_PREFIX, NewToken, TokenInfo, TokenService, hash_token

__all__ = ["TOKEN_PREFIX", "NewToken", "TokenInfo", "TokenService", "hash_token"]
