using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace PiOrchestrator.Access;

/// <summary>
/// The secrets of an invite: the join token in its URL, the 6-digit code sent apart from it, and the credential a join
/// gives. Token and credential are 256 random bits, kept as SHA-256 (enough for secrets nobody can guess); the code has
/// only a million values, so its hash is keyed with the site's pepper (<see cref="InvitePepper"/>) and a stolen database
/// does not give it away by trying them all.
/// </summary>
public static class InviteSecrets
{
    public const string TokenPrefix = "inv_";
    public const string CredentialPrefix = "tech_";
    public const int CodeDigits = 6;
    private const int RandomBytes = 32;
    /// <summary>Base64url of 32 bytes, unpadded.</summary>
    private const int RandomChars = 43;

    private static readonly SearchValues<char> Base64UrlChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

    public static string NewToken() => TokenPrefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(RandomBytes));

    public static string NewCredential() => CredentialPrefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(RandomBytes));

    public static string NewCode() => RandomNumberGenerator.GetInt32(0, 1_000_000).ToString("D6", System.Globalization.CultureInfo.InvariantCulture);

    public static string NewInviteId() => "inv-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    /// <summary>A token or credential of the exact form this agent issues; anything else is refused before it is hashed.</summary>
    public static bool IsWellFormed(ReadOnlySpan<char> value, string prefix) =>
        value.Length == prefix.Length + RandomChars && value.StartsWith(prefix, StringComparison.Ordinal)
        && !value[prefix.Length..].ContainsAnyExcept(Base64UrlChars);

    /// <summary>Exactly six ASCII digits.</summary>
    public static bool IsCode(ReadOnlySpan<char> value)
    {
        if (value.Length != CodeDigits) return false;
        foreach (var c in value)
            if (c is < '0' or > '9') return false;
        return true;
    }

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(secret)));

    /// <summary>HMAC-SHA-256 of the invite id and code under the pepper: a code is good only for its own invite.</summary>
    public static string HashCode(byte[] pepper, string inviteId, string code) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(pepper, Encoding.ASCII.GetBytes(inviteId + ":" + code)));

    /// <summary>Compares two hex hashes in constant time.</summary>
    public static bool SameHash(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(a), Encoding.ASCII.GetBytes(b));
}
