using System.Buffers;

namespace PiOrchestrator.Api;

/// <summary>What ids and keys may look like; everything else is refused before it reaches the store.</summary>
public static class Validation
{
    public const int MaxIdLength = 128;
    public const int MaxKeyLength = 512;

    private static readonly SearchValues<char> IdChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
    private static readonly SearchValues<char> KeyChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-:/");

    public static bool IsValidId(string? value) =>
        value is { Length: > 0 and <= MaxIdLength } && !value.AsSpan().ContainsAnyExcept(IdChars);

    public static bool IsValidKey(string? value) =>
        value is { Length: > 0 and <= MaxKeyLength }
        && !value.AsSpan().ContainsAnyExcept(KeyChars)
        && !value.Contains("..", StringComparison.Ordinal)
        && !value.Contains("//", StringComparison.Ordinal)
        && value[0] != '/';

    /// <summary>Null when the id is acceptable, else the 400 answer naming the field.</summary>
    public static ApiErrorResult? CheckId(string? value, string field) =>
        IsValidId(value) ? null : ApiErrors.InvalidRequest(field, $"{field} must be 1-{MaxIdLength} characters of [A-Za-z0-9._-]");

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
