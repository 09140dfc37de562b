// A test certificate authority and a server certificate for 127.0.0.1 signed by it, made by
// openssl, for the tests of the TLS listener and of TLS through a load balancer.
import assert from "node:assert/strict";

async function openssl(args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command("openssl", {
    args,
    stdout: "null",
    stderr: "piped",
  })
    .output();
  assert.equal(code, 0, `openssl ${args[0]}: ${new TextDecoder().decode(stderr)}`);
}

/**
 * A test CA and a server certificate for 127.0.0.1 signed by it, made by openssl in a temp folder
 * (a self-signed leaf is refused by strict clients such as rustls).
 */
export async function makeCertificate(
  dir: string,
): Promise<{ cert: string; key: string; ca: string }> {
  const [ca, caKey, cert, key, csr, ext] = ["ca.pem", "ca.key", "cert.pem", "key.pem", "csr", "ext"]
    .map((f) => `${dir}/${f}`);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-days",
    "1",
    "-subj",
    "/CN=classcord-test-ca",
    "-keyout",
    caKey,
    "-out",
    ca,
  ]);
  await openssl(["req", "-new", ...ec, "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", csr]);
  await Deno.writeTextFile(
    ext,
    "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n" +
      "extendedKeyUsage=serverAuth\n",
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca,
    "-CAkey",
    caKey,
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    ext,
    "-out",
    cert,
  ]);
  return { cert, key, ca };
}
