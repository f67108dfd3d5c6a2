using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace PiOrchestrator.Evidence;

/// <summary>An RFC 3161 time-stamping authority for each completed session's chain head; off while Url is empty.</summary>
public sealed class TsaOptions
{
    /// <summary>The TSA's HTTP endpoint (application/timestamp-query in, application/timestamp-reply out).</summary>
    public string Url { get; set; } = "";

    /// <summary>PEM of the CA the TSA's certificate must chain to; trusted for time stamps only.</summary>
    public string CaFile { get; set; } = "";

    /// <summary>The longest wait between attempts while the TSA is unreachable.</summary>
    [Range(1, 3600)]
    public int RetryMaxSeconds { get; set; } = 300;

    [Range(1, 300)]
    public int TimeoutSeconds { get; set; } = 30;

    public bool Configured => !string.IsNullOrWhiteSpace(Url);
}

[OptionsValidator]
internal sealed partial class TsaOptionsAnnotations : IValidateOptions<TsaOptions>
{
}

internal sealed class TsaOptionsValidator : IValidateOptions<TsaOptions>
{
    public ValidateOptionsResult Validate(string? name, TsaOptions o)
    {
        if (!o.Configured) return ValidateOptionsResult.Success;
        var problems = new List<string>();
        if (!Uri.TryCreate(o.Url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            problems.Add($"Tsa:Url '{o.Url}' must be an absolute http:// or https:// URL");
        if (string.IsNullOrWhiteSpace(o.CaFile)) problems.Add("Tsa:CaFile must be set when Tsa:Url is (the CA the TSA's certificate must chain to)");
        else if (!TimestampCheck.TryLoadCa(o.CaFile, out _, out var error)) problems.Add($"Tsa:CaFile: {error}");
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
