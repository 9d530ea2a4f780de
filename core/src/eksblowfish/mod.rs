//! bcrypt's EksBlowfish, written for speed: the Rails side hashes once per user and room
//! while the page waits. Output is byte-identical to the `bcrypt` crate (tests below) and so to
//! bcrypt-ruby and bcryptjs.
//!
//! Where the time goes: 2^cost rounds of two key expansions, each 521 Blowfish encryptions
//! that rewrite P and all four S-boxes. The state lives in one local struct (no aliasing for
//! the optimiser to fear), the key and salt are expanded to their 18-word cyclic streams once,
//! and the 16 rounds are unrolled.

mod consts;

struct State {
    p: [u32; 18],
    s: [[u32; 256]; 4],
}

impl State {
    #[inline(always)]
    fn f(&self, x: u32) -> u32 {
        let a = self.s[0][(x >> 24) as usize];
        let b = self.s[1][((x >> 16) & 0xff) as usize];
        let c = self.s[2][((x >> 8) & 0xff) as usize];
        let d = self.s[3][(x & 0xff) as usize];
        (a.wrapping_add(b) ^ c).wrapping_add(d)
    }

    #[inline(always)]
    fn encrypt(&self, mut l: u32, mut r: u32) -> (u32, u32) {
        let p = &self.p;
        l ^= p[0];
        r ^= self.f(l) ^ p[1];
        l ^= self.f(r) ^ p[2];
        r ^= self.f(l) ^ p[3];
        l ^= self.f(r) ^ p[4];
        r ^= self.f(l) ^ p[5];
        l ^= self.f(r) ^ p[6];
        r ^= self.f(l) ^ p[7];
        l ^= self.f(r) ^ p[8];
        r ^= self.f(l) ^ p[9];
        l ^= self.f(r) ^ p[10];
        r ^= self.f(l) ^ p[11];
        l ^= self.f(r) ^ p[12];
        r ^= self.f(l) ^ p[13];
        l ^= self.f(r) ^ p[14];
        r ^= self.f(l) ^ p[15];
        l ^= self.f(r) ^ p[16];
        (r ^ p[17], l)
    }

    /// Key expansion without salt: the hot path, run 2^(cost+1) times.
    #[inline(always)]
    fn expand(&mut self, key: &[u32; 18]) {
        for (p, k) in self.p.iter_mut().zip(key) {
            *p ^= k;
        }
        let (mut l, mut r) = (0u32, 0u32);
        for i in 0..9 {
            (l, r) = self.encrypt(l, r);
            self.p[2 * i] = l;
            self.p[2 * i + 1] = r;
        }
        for b in 0..4 {
            for i in 0..64 {
                (l, r) = self.encrypt(l, r);
                self.s[b][4 * i] = l;
                self.s[b][4 * i + 1] = r;
                (l, r) = self.encrypt(l, r);
                self.s[b][4 * i + 2] = l;
                self.s[b][4 * i + 3] = r;
            }
        }
    }

    /// The first expansion, which also mixes the salt into every block.
    fn expand_salted(&mut self, key: &[u32; 18], salt: &[u32; 4]) {
        for (p, k) in self.p.iter_mut().zip(key) {
            *p ^= k;
        }
        let (mut l, mut r) = (0u32, 0u32);
        let mut j = 0;
        for i in (0..18).step_by(2) {
            l ^= salt[j];
            r ^= salt[j + 1];
            j ^= 2;
            (l, r) = self.encrypt(l, r);
            self.p[i] = l;
            self.p[i + 1] = r;
        }
        for b in 0..4 {
            for i in (0..256).step_by(2) {
                l ^= salt[j];
                r ^= salt[j + 1];
                j ^= 2;
                (l, r) = self.encrypt(l, r);
                self.s[b][i] = l;
                self.s[b][i + 1] = r;
            }
        }
    }
}

/// The 18 big-endian words Blowfish reads from `bytes`, cycling over them.
fn stream(bytes: &[u8]) -> [u32; 18] {
    let mut out = [0u32; 18];
    let mut pos = 0;
    for w in out.iter_mut() {
        for _ in 0..4 {
            *w = (*w << 8) | bytes[pos] as u32;
            pos = (pos + 1) % bytes.len();
        }
    }
    out
}

/// Raw bcrypt: 23 bytes of hash for `password` (as given: the caller adds the NUL and
/// truncates to 72 bytes, as bcrypt's definition does), `salt` and `cost`.
pub fn bcrypt_raw(cost: u32, salt: &[u8; 16], password: &[u8]) -> [u8; 23] {
    assert!((4..=31).contains(&cost), "bcrypt cost must be 4..=31");
    assert!(!password.is_empty() && password.len() <= 72);
    let key = stream(password);
    let salt_words: [u32; 4] =
        std::array::from_fn(|i| u32::from_be_bytes(salt[4 * i..4 * i + 4].try_into().unwrap()));
    let salt_stream = stream(salt);

    let mut st = Box::new(State {
        p: consts::P,
        s: consts::S,
    });
    st.expand_salted(&key, &salt_words);
    for _ in 0..1u64 << cost {
        st.expand(&key);
        st.expand(&salt_stream);
    }

    // "OrpheanBeholderScryDoubt", encrypted 64 times.
    let mut ctext: [u32; 6] = [
        0x4f727068, 0x65616e42, 0x65686f6c, 0x64657253, 0x63727944, 0x6f756274,
    ];
    for pair in ctext.chunks_exact_mut(2) {
        let (mut l, mut r) = (pair[0], pair[1]);
        for _ in 0..64 {
            (l, r) = st.encrypt(l, r);
        }
        pair[0] = l;
        pair[1] = r;
    }
    let mut out = [0u8; 24];
    for (i, w) in ctext.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&w.to_be_bytes());
    }
    out[..23].try_into().unwrap()
}

const B64: &[u8; 64] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn b64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 2);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let mut vals = Vec::with_capacity(s.len());
    for c in s.bytes() {
        vals.push(B64.iter().position(|&b| b == c)? as u32);
    }
    let mut out = Vec::new();
    for chunk in vals.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, v)| acc | v << (18 - 6 * i));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

fn key_bytes(password: &[u8]) -> Vec<u8> {
    let mut k: Vec<u8> = password.iter().copied().take(72).collect();
    if k.len() < 72 {
        k.push(0);
    }
    k
}

/// `$2a$NN$<22 salt chars><31 hash chars>` for `password` with `salt`.
pub fn hash_with_salt(password: &[u8], cost: u32, salt: &[u8; 16], prefix: &str) -> String {
    let raw = bcrypt_raw(cost, salt, &key_bytes(password));
    format!("${prefix}${cost:02}${}{}", b64_encode(salt), b64_encode(&raw))
}

/// A random-salted `$2a$` hash.
pub fn hash(password: &[u8], cost: u32) -> String {
    let mut salt = [0u8; 16];
    getrandom_salt(&mut salt);
    hash_with_salt(password, cost, &salt, "2a")
}

fn getrandom_salt(salt: &mut [u8; 16]) {
    getrandom::fill(salt).expect("the OS random source is available");
}

/// Recomputes the hash with the stored salt and cost; compares in constant time. Any
/// malformed hash is a mismatch.
pub fn verify(password: &[u8], stored: &str) -> bool {
    use subtle::ConstantTimeEq;
    let Some((prefix, cost, salt, _)) = parse(stored) else {
        return false;
    };
    let again = hash_with_salt(password, cost, &salt, prefix);
    again.as_bytes().ct_eq(stored.as_bytes()).into()
}

fn parse(h: &str) -> Option<(&str, u32, [u8; 16], &str)> {
    let rest = h.strip_prefix('$')?;
    let (prefix, rest) = rest.split_once('$')?;
    if !matches!(prefix, "2a" | "2b" | "2y") {
        return None;
    }
    let (cost, rest) = rest.split_once('$')?;
    let cost: u32 = cost.parse().ok().filter(|c| (4..=31).contains(c))?;
    if rest.len() != 53 || !rest.is_ascii() {
        return None;
    }
    let salt: [u8; 16] = b64_decode(&rest[..22])?.get(..16)?.try_into().ok()?;
    Some((prefix, cost, salt, &rest[22..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_hash(pw: &[u8], cost: u32, salt: [u8; 16]) -> String {
        bcrypt::hash_with_salt(pw, cost, salt)
            .unwrap()
            .format_for_version(bcrypt::Version::TwoA)
    }

    #[test]
    fn identical_to_the_bcrypt_crate() {
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut lengths: Vec<usize> = vec![0, 1, 63, 64, 71, 72, 73, 100];
        lengths.extend((0..120).map(|_| (next() % 90) as usize));
        for len in lengths {
            let pw: Vec<u8> = (0..len)
                .map(|_| (next() % 256) as u8)
                .filter(|b| *b != 0)
                .collect();
            let salt: [u8; 16] = std::array::from_fn(|_| next() as u8);
            assert_eq!(
                hash_with_salt(&pw, 4, &salt, "2a"),
                crate_hash(&pw, 4, salt),
                "len {len}"
            );
        }
    }

    #[test]
    fn known_vectors() {
        // From OpenBSD's and jBCrypt's test suites, checked against the bcrypt crate too.
        for (pw, h) in [
            (
                "U*U",
                "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            ),
            ("", "$2a$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s."),
            (
                "abc",
                "$2a$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i",
            ),
        ] {
            assert!(verify(pw.as_bytes(), h), "{pw:?}");
            assert!(bcrypt::verify(pw, h).unwrap(), "{pw:?} (bcrypt crate)");
            assert!(!verify(b"wrong", h));
        }
    }

    #[test]
    fn ruby_hashes_verify_and_prefixes_are_kept() {
        let h = hash(
            b"e6575259eb142c67ac5721890cf5f2510e84e81c9ae3570a2ed953a51f222fed",
            4,
        );
        assert!(h.starts_with("$2a$04$") && h.len() == 60, "{h}");
        assert!(verify(
            b"e6575259eb142c67ac5721890cf5f2510e84e81c9ae3570a2ed953a51f222fed",
            &h
        ));
        assert!(verify(
            b"e6575259eb142c67ac5721890cf5f2510e84e81c9ae3570a2ed953a51f222fed",
            &h.replacen("$2a$", "$2b$", 1)
        ));
        for bad in [
            "",
            "$2a$04$short",
            "$2x$04$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            "$2a$99$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
        ] {
            assert!(!verify(b"U*U", bad), "{bad}");
        }
    }
}
