namespace PiOrchestrator.Tests.Floors;

/// <summary>
/// The agent's folders (one namespace each) depend one way: plumbing at the bottom imports no feature, features
/// above it form no cycle and know no observer, observers (status, metrics, systemd) read the features below them.
/// Built from every type reference in the compiled agent (signatures, fields, attributes and method bodies), read by
/// Mono.Cecil (<see cref="FolderGraph"/>), so a reference a newcomer adds anywhere is seen.
/// </summary>
public sealed class FloorsTests
{
    /// <summary>Shared plumbing: no feature's types.</summary>
    public static readonly string[] Plumbing = ["Native", "Hosting", "Http", "Net", "Tls", "Jpeg", "Mqtt"];

    /// <summary>The features, lowest first (a feature may use the ones listed before it).</summary>
    public static readonly string[] Features = ["Site", "Store", "Access", "Upload", "Capture", "Doors", "Evidence", "Sessions"];

    /// <summary>What reads the features for the outside world; nothing below uses them.</summary>
    public static readonly string[] Observers = ["Status", "Metrics", "Systemd"];

    /// <summary>Wires the rest (the --demo mode).</summary>
    public static readonly string[] Top = ["Demo"];

    private static readonly Lazy<Dictionary<string, Dictionary<string, List<string>>>> Graph = new(() => FolderGraph.Of(typeof(PiOrchestrator.Site.SiteOptions).Assembly.Location));

    private static string Uses(string from, string to) =>
        $"{from} → {to}: {string.Join("; ", Graph.Value[from][to].Take(4))}";

    [Fact]
    public void Every_folder_of_the_agent_has_its_floor()
    {
        var known = Plumbing.Concat(Features).Concat(Observers).Concat(Top).ToHashSet();
        var folders = Graph.Value.Keys.Concat(Graph.Value.Values.SelectMany(v => v.Keys)).Distinct().ToList();
        Assert.Contains("Sessions", folders);
        Assert.Empty(folders.Where(f => !known.Contains(f)));
    }

    [Fact]
    public void No_cycle_between_folders()
    {
        var cycles = new List<string>();
        foreach (var (from, uses) in Graph.Value)
            foreach (var to in uses.Keys)
                if (PathBetween(to, from) is { } back)
                    cycles.Add($"{Uses(from, to)}\n    and back: {string.Join(" → ", back)}");
        Assert.True(cycles.Count == 0, "folders that use each other:\n  " + string.Join("\n  ", cycles));
    }

    [Fact]
    public void Plumbing_imports_no_feature_and_features_know_no_observer()
    {
        var wrong = new List<string>();
        foreach (var (from, uses) in Graph.Value)
            foreach (var to in uses.Keys)
            {
                var allowed = Array.IndexOf(Plumbing, from) >= 0 ? Plumbing
                    : Array.IndexOf(Features, from) is var f and >= 0 ? Plumbing.Concat(Features.Take(f)).ToArray()
                    : Array.IndexOf(Observers, from) >= 0 ? Plumbing.Concat(Features).ToArray()
                    : Plumbing.Concat(Features).Concat(Observers).ToArray();
                if (!allowed.Contains(to)) wrong.Add(Uses(from, to));
            }
        Assert.True(wrong.Count == 0, "references that go up a floor:\n  " + string.Join("\n  ", wrong));
    }

    /// <summary>A path of folders from <paramref name="from"/> to <paramref name="to"/>, breadth first; null when none.</summary>
    private static List<string>? PathBetween(string from, string to)
    {
        var previous = new Dictionary<string, string> { [from] = from };
        var queue = new Queue<string>([from]);
        while (queue.TryDequeue(out var at))
        {
            if (at == to)
            {
                var path = new List<string> { at };
                while (path[^1] != from) path.Add(previous[path[^1]]);
                path.Reverse();
                return path;
            }
            foreach (var next in Graph.Value.GetValueOrDefault(at)?.Keys ?? Enumerable.Empty<string>())
                if (previous.TryAdd(next, at)) queue.Enqueue(next);
        }
        return null;
    }
}
