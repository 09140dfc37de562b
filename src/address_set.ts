// Sets of IP addresses and CIDR ranges (`--trusted-addresses`), matched against a client's
// address; IPv4 clients seen through an IPv6 socket (::ffff:a.b.c.d) match their IPv4 ranges.
import ipaddr from "ipaddr.js";

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** A parsed list of addresses and CIDR ranges. */
export class AddressSet {
  readonly #ranges: Range[];
  /** The list as it was written, for logs and `--help`. */
  readonly source: string;

  private constructor(ranges: Range[], source: string) {
    this.#ranges = ranges;
    this.source = source;
  }

  /** The empty set: nothing matches. */
  static readonly NONE: AddressSet = new AddressSet([], "none");

  /**
   * Reads a comma-separated list of addresses and CIDR ranges (`127.0.0.0/8,::1`); `none` (or
   * an empty list) is the empty set.
   *
   * @throws {RangeError} naming the first entry that is neither an address nor a range
   */
  static parse(list: string): AddressSet {
    const entries = list.split(",").map((e) => e.trim()).filter((e) => e !== "");
    if (entries.length === 0 || (entries.length === 1 && entries[0] === "none")) {
      return AddressSet.NONE;
    }
    const ranges = entries.map((entry): Range => {
      const [ip, bits, extra] = entry.split("/");
      // Dotted quads only: ipaddr.js would also read "10.1" or "0x7f.1" as IPv4 addresses.
      const valid = extra === undefined &&
        (ip.includes(":") ? ipaddr.IPv6.isValid(ip) : ipaddr.IPv4.isValidFourPartDecimal(ip));
      try {
        if (!valid) throw new RangeError(entry);
        if (bits !== undefined) return ipaddr.parseCIDR(entry);
        const addr = ipaddr.parse(ip);
        return [addr, addr.kind() === "ipv4" ? 32 : 128];
      } catch {
        throw new RangeError(`"${entry}" is neither an IP address nor a CIDR range`);
      }
    });
    return new AddressSet(ranges, entries.join(","));
  }

  /** Whether `address` (as a socket reports it) is in the set; false for what is not an IP. */
  has(address: string): boolean {
    if (this.#ranges.length === 0 || !ipaddr.isValid(address)) return false;
    // ::ffff:10.0.0.1 is the IPv4 client 10.0.0.1 on a dual-stack socket.
    const addr = ipaddr.process(address);
    return this.#ranges.some(([net, bits]) => addr.kind() === net.kind() && addr.match(net, bits));
  }
}

/**
 * An address as the server writes it everywhere: an IPv4-mapped IPv6 one (a client of a
 * dual-stack socket) as plain IPv4, so one client has one address in the caps, bans and logs.
 */
export function plainAddress(raw: string): string {
  if (!ipaddr.isValid(raw)) return raw;
  const parsed = ipaddr.parse(raw);
  return parsed.kind() === "ipv6" && (parsed as ipaddr.IPv6).isIPv4MappedAddress()
    ? (parsed as ipaddr.IPv6).toIPv4Address().toString()
    : parsed.toString();
}
