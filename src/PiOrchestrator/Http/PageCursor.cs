using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace PiOrchestrator.Http;

/// <summary>
/// The opaque cursor of a paged list: <c>{list}:{field}:{field}…</c> in base64url. Decoding is strict (its own list's
/// name, the exact field count, the one spelling <see cref="Encode"/> gives, a length bound); each list then parses the
/// fields as typed values bound as SQL parameters. A forged cursor is therefore either refused or an ordinary position
/// in the same list, which any client could reach by paging: nothing to protect with a secret.
/// </summary>
public static class PageCursor
{
    public const int MaxLength = 512;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static string Encode(string list, params ReadOnlySpan<string> fields)
    {
        var text = new StringBuilder(list);
        foreach (var field in fields)
        {
            // The separator or an empty field would make two positions read the same.
            if (field.Length == 0 || field.Contains(':')) throw new ArgumentException($"cursor field '{field}' is empty or holds ':'", nameof(fields));
            text.Append(':').Append(field);
        }
        return Base64Url.EncodeToString(StrictUtf8.GetBytes(text.ToString()));
    }

    /// <summary>The fields of a cursor <see cref="Encode"/> made for <paramref name="list"/>; null for anything else.</summary>
    public static string[]? Decode(string cursor, string list, int fieldCount)
    {
        if (cursor.Length is 0 or > MaxLength) return null;
        string text;
        try
        {
            text = StrictUtf8.GetString(Base64Url.DecodeFromChars(cursor));
        }
        catch (Exception ex) when (ex is FormatException or DecoderFallbackException)
        {
            return null;
        }
        var parts = text.Split(':');
        if (parts.Length != fieldCount + 1 || parts[0] != list || Array.Exists(parts, p => p.Length == 0)) return null;
        var fields = parts[1..];
        // Padding, whitespace or other spellings of the same bytes were not issued here.
        return Encode(list, fields) == cursor ? fields : null;
    }

    /// <summary>A page size from 1 to <paramref name="max"/>, <paramref name="defaultLimit"/> when absent; otherwise a 400 naming limit.</summary>
    public static ApiErrorResult? ParseLimit(string? limit, int defaultLimit, int max, out int pageSize)
    {
        pageSize = defaultLimit;
        if (limit is null) return null;
        return int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out pageSize) && pageSize >= 1 && pageSize <= max
            ? null
            : ApiErrors.InvalidRequest("limit", $"limit must be a whole number from 1 to {max}");
    }
}
