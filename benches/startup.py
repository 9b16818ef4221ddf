"""Usage: N=40 [PROFILE_KEYS=1] python3 benches/startup.py BEFORE_BINARY AFTER_BINARY

Start-up of a one-file `haul cp` to a local `haul serve`, static keys in the
environment: median wall time of N runs of each binary, alternating."""
import os, subprocess, sys, time, statistics, tempfile, shutil

bins = sys.argv[1:]
root = tempfile.mkdtemp(prefix="haul-startup-")
os.makedirs(os.path.join(root, "bench"))
small = os.path.join(root, "small.txt")
open(small, "w").write("hello\n")
senv = dict(os.environ, HAUL_SERVE_ACCESS_KEY="HAULTESTACCESSKEY", HAUL_SERVE_SECRET_KEY="haul/test+secret/key/0123456789abcdef")
server = subprocess.Popen([bins[0], "serve", "--root", root, "--addr", "127.0.0.1:19416", "-q"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=senv)
time.sleep(1.0)
env = dict(os.environ)
env.update({
    "AWS_ENDPOINT_URL": "http://127.0.0.1:19416",
    "AWS_ACCESS_KEY_ID": "HAULTESTACCESSKEY",
    "AWS_SECRET_ACCESS_KEY": "haul/test+secret/key/0123456789abcdef",
    "AWS_REGION": "us-east-1",
    "HAUL_CONFIG": os.path.join(root, "none.toml"),
})
open(env["HAUL_CONFIG"], "w").write("")
if os.environ.get("PROFILE_KEYS"):
    creds = os.path.join(root, "credentials")
    open(creds, "w").write("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (env.pop("AWS_ACCESS_KEY_ID"), env.pop("AWS_SECRET_ACCESS_KEY")))
    env["AWS_SHARED_CREDENTIALS_FILE"] = creds
    env["AWS_CONFIG_FILE"] = os.path.join(root, "config")
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
times = {b: [] for b in bins}
cpu = {b: [] for b in bins}
N = int(os.environ.get("N", "10"))
for i in range(N + 1):
    for b in bins:
        env["HAUL_JOURNAL"] = os.path.join(root, f"j-{os.path.basename(b)}-{i}.db")
        t = time.perf_counter()
        pr = subprocess.Popen([b, "cp", small, f"s3://bench/{os.path.basename(b)}-{i}.txt", "-q"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, ru = os.wait4(pr.pid, 0)
        dt = time.perf_counter() - t
        if status != 0:
            print(b, "failed"); server.terminate(); sys.exit(1)
        if i > 0:  # the first run of each warms the page cache
            times[b].append(dt)
            cpu[b].append(ru.ru_utime + ru.ru_stime)
server.terminate()
server.wait()
for b in bins:
    ts = sorted(times[b])
    print(f"{b}: median {statistics.median(ts)*1000:.1f} ms, min {ts[0]*1000:.1f}, max {ts[-1]*1000:.1f} ({len(ts)} runs); CPU median {statistics.median(cpu[b])*1000:.1f} ms")
shutil.rmtree(root)
