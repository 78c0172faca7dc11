import time
import pytest
from tests.e2e import test_ratelimit_redis as m
from tests.support.servers import free_port, start_gateway

@pytest.mark.parametrize("redis,key", [(False, m.BURST_KEY), (True, m.TOKENS_KEY), (True, m.BURST_KEY)])
def test_dbg(tmp_path, redis, key):
    env = {"GATEWAY_API_KEYS": "", "KEYS_FILE": m.write_keys_file(tmp_path, m.ENTRIES)}
    if redis:
        env["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    server = start_gateway(tmp_path, m.MODELS, env=env)
    for i in range(2):
        r=m.chat(server.url, key)
    t=time.time(); server.stop(); print("\n", redis, key, "stop", time.time()-t)
