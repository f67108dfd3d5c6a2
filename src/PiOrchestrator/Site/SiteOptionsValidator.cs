using Microsoft.Extensions.Options;
using PiOrchestrator.Http;

namespace PiOrchestrator.Site;

/// <summary>Rules across the container list: one line per problem, naming the entry.</summary>
public sealed class SiteOptionsValidator : IValidateOptions<SiteOptions>
{
    public ValidateOptionsResult Validate(string? name, SiteOptions options)
    {
        var problems = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Containers.Count; i++)
        {
            var c = options.Containers[i];
            var at = $"Containers:{i}";
            if (Validation.IdProblem(c.Id) is { } idProblem)
                problems.Add($"{at}:Id '{c.Id}' {idProblem}");
            else if (!seen.Add(c.Id))
                problems.Add($"{at}:Id '{c.Id}' is configured twice");
            if (Validation.IdProblem(c.CameraId) is { } cameraProblem)
                problems.Add($"{at}:CameraId '{c.CameraId}' {cameraProblem}");
            if (!Uri.TryCreate(c.CameraUrl, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
                problems.Add($"{at}:CameraUrl '{c.CameraUrl}' must be an absolute http:// or https:// URL");
            if (c.FlushFrames is < 0 or > 10)
                problems.Add($"{at}:FlushFrames must be between 0 and 10");
            if (c.Door is { } door)
            {
                if (door.Line < 0) problems.Add($"{at}:Door:Line must be set (a GPIO line offset, 0 or more)");
                if (string.IsNullOrWhiteSpace(door.Chip)) problems.Add($"{at}:Door:Chip must name a GPIO chip (gpiochip0)");
                if (door.DebounceMs is < 0 or > 10_000) problems.Add($"{at}:Door:DebounceMs must be between 0 and 10000");
                if (door.Bias is not ("as-is" or "disable" or "pull-up" or "pull-down"))
                    problems.Add($"{at}:Door:Bias must be one of as-is, disable, pull-up, pull-down");
            }
        }
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
