using System.Buffers;

namespace PiOrchestrator.Http;

/// <summary>What ids and keys may look like; everything else is refused before it reaches the store.</summary>
public static partial class Validation
{
    public const int MaxIdLength = 128;
    public const int MaxKeyLength = 512;

    private static readonly SearchValues<char> IdChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
    private static readonly SearchValues<char> KeyChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-:/");

    /// <summary>The rule for ids in words, for logs and 400 answers.</summary>
    public const string IdRule = "1-128 characters of [A-Za-z0-9._-], not beginning or ending with '.'";

    public static bool IsValidId(string? value) => IdProblem(value) is null;

    /// <summary>
    /// Null when the id may be used, else why not. An id becomes a path segment of object keys
    /// (<c>evidence/{container}/{session}/…</c>) and of file names in exports: <c>.</c> and <c>..</c> are dot
    /// segments that S3 and URL handling remove (<c>evidence/ctr-001/../x.jpg</c> is stored as <c>evidence/x.jpg</c>),
    /// and file systems drop or hide names at the dots' end (Windows and SMB strip trailing dots), so no id begins
    /// or ends with one.
    /// </summary>
    public static string? IdProblem(string? value)
    {
        if (value is not { Length: > 0 and <= MaxIdLength } || value.AsSpan().ContainsAnyExcept(IdChars))
            return $"must be {IdRule}";
        if (value[0] == '.' || value[^1] == '.')
            return "must not begin or end with '.' ('.' and '..' are path segments that S3 and file systems rewrite)";
        return null;
    }

    /// <summary>
    /// A key S3 stores exactly as given: allowed characters only, no empty, <c>.</c> or <c>..</c> segment (no
    /// leading or trailing '/', no '//'). Such keys survive URL dot-segment removal and path-style addressing unchanged.
    /// </summary>
    public static bool IsCanonicalKey(string? value)
    {
        if (value is not { Length: > 0 and <= MaxKeyLength } || value.AsSpan().ContainsAnyExcept(KeyChars)) return false;
        foreach (var segment in value.AsSpan().Split('/'))
        {
            var s = value.AsSpan()[segment];
            if (s.IsEmpty || s is "." || s is "..") return false;
        }
        return true;
    }

    public static bool IsValidKey(string? value) =>
        IsCanonicalKey(value) && !value!.Contains("..", StringComparison.Ordinal);

    /// <summary>
    /// Null unless the request's own path (as sent, percent-decoded) has a '.' or '..' segment. The server removes
    /// such segments before routing, so <c>/api/v1/sessions/../export</c> would quietly reach another route instead
    /// of naming a session; it is refused instead, saying why.
    /// </summary>
    public static string? PathProblem(string? rawTarget)
    {
        if (string.IsNullOrEmpty(rawTarget)) return null;
        var path = rawTarget.AsSpan();
        if (path.IndexOfAny('?', '#') is var end and >= 0) path = path[..end];
        if (path.IndexOfAny('.', '%') < 0) return null;
        var decoded = Uri.UnescapeDataString(path.ToString());
        foreach (var range in decoded.AsSpan().Split('/'))
        {
            var segment = decoded.AsSpan()[range];
            if (segment is "." || segment is "..")
                return $"the path has a '{segment}' segment, which would be removed before routing: ids are {IdRule}";
        }
        return null;
    }

    /// <summary>A key for a log line: control characters replaced, at most 600 characters.</summary>
    public static string PrintableKey(string key)
    {
        var excerpt = key.Length > 600 ? key[..600] + "…" : key;
        return string.Create(excerpt.Length, excerpt, (span, text) =>
        {
            for (var i = 0; i < text.Length; i++) span[i] = char.IsControl(text[i]) ? '?' : text[i];
        });
    }

    /// <summary>Null when the id is acceptable, else the 400 answer naming the field.</summary>
    /// <summary>A name ("Alex Garcia", "José O'Brien") or an email (254: the longest an address can be).</summary>
    [System.Text.RegularExpressions.GeneratedRegex(@"^[\p{L}\p{M}\p{N}.@_+'-]+(?: [\p{L}\p{M}\p{N}.@_+'-]+)*$")]
    private static partial System.Text.RegularExpressions.Regex PersonName();

    public static ApiErrorResult? CheckPersonName(string? value, string field, int max) =>
        value is { Length: > 0 } && value.Length <= max && PersonName().IsMatch(value)
            ? null
            : ApiErrors.InvalidRequest(field, $"{field} must be a name or an email: 1-{max} letters, digits and . @ _ + ' -, single spaces between words");

    public static ApiErrorResult? CheckId(string? value, string field) =>
        IdProblem(value) is { } problem ? ApiErrors.InvalidRequest(field, $"{field} {problem}") : null;

    public static ApiErrorResult? CheckKey(string? value, string field) =>
        IsValidKey(value) ? null : ApiErrors.InvalidRequest(field,
            $"{field} must be 1-{MaxKeyLength} characters of [A-Za-z0-9._:/-], without '..', '//' or a leading '/'");

    /// <summary>Parses an optional boolean query value; anything but true/false/1/0 is refused.</summary>
    public static bool TryParseFlag(string? value, bool defaultValue, out bool result)
    {
        result = defaultValue;
        switch (value)
        {
            case null: return true;
            case "true" or "1" or "True": result = true; return true;
            case "false" or "0" or "False": result = false; return true;
            default: return false;
        }
    }
}
