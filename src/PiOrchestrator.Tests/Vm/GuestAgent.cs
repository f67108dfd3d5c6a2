using System.Text.Json;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Vm;

/// <summary>The agent as installed in a <see cref="TrixieVm"/>: apt, systemctl and the door line in the guest, the API through the forward.</summary>
public sealed class GuestAgent(TrixieVm vm) : IDisposable
{
    public const int DoorLine = 17;
    public const string ContainerId = "ctr-vm";

    private readonly HttpClient _http = new() { BaseAddress = new Uri(vm.ApiUrl), Timeout = TimeSpan.FromSeconds(20) };

    public TrixieVm Vm => vm;

    /// <summary>apt's sources get the signed repository from the share (its key as signed-by=), then apt installs <paramref name="version"/>.</summary>
    public Task<string> InstallFromRepositoryAsync(string version) => vm.RunOkAsync(
        $"""
        rm -rf /srv/repo && mkdir -p /srv && cp -r /mnt/host/repo /srv/repo
        install -m 0644 /srv/repo/key.gpg /usr/share/keyrings/piorchestrator-test.gpg
        echo "deb [signed-by=/usr/share/keyrings/piorchestrator-test.gpg] file:/srv/repo ./" > /etc/apt/sources.list.d/piorchestrator.list
        apt-get update -q 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q piorchestrator={version} 2>&1
        """, TimeSpan.FromMinutes(6));

    /// <summary>Puts <paramref name="json"/> in /etc/piorchestrator/appsettings.json (as the package left it: root:piorchestrator 0640) and restarts.</summary>
    public async Task ConfigureAsync(string json)
    {
        await File.WriteAllTextAsync(Path.Combine(vm.Share, "appsettings.json"), json);
        // restart returns once READY=1 came (Type=notify), or fails.
        await vm.RunOkAsync("install -m 0640 -g piorchestrator /mnt/host/appsettings.json /etc/piorchestrator/appsettings.json && systemctl restart piorchestrator",
            TimeSpan.FromMinutes(3));
    }

    /// <summary>
    /// Secrets as the README has an operator add them: files in /etc/piorchestrator/credentials, then
    /// dpkg-reconfigure, whose postinst writes one LoadCredential= per file and restarts the service.
    /// </summary>
    public async Task AddCredentialsAsync(IReadOnlyDictionary<string, string> credentials)
    {
        var script = new System.Text.StringBuilder();
        foreach (var (name, value) in credentials)
        {
            await File.WriteAllTextAsync(Path.Combine(vm.Share, "credential-" + name), value);
            script.AppendLine($"install -m 0600 /mnt/host/credential-{name} /etc/piorchestrator/credentials/{name}");
        }
        script.AppendLine("DEBIAN_FRONTEND=noninteractive dpkg-reconfigure piorchestrator 2>&1");
        script.AppendLine("grep -c '^LoadCredential=' /etc/systemd/system/piorchestrator.service.d/credentials.conf");
        await vm.RunOkAsync(script.ToString(), TimeSpan.FromMinutes(3));
    }

    /// <summary>The unit's properties (systemctl show), by name.</summary>
    public async Task<Dictionary<string, string>> ShowAsync() =>
        (await vm.RunOkAsync("systemctl show piorchestrator -p ActiveState,SubState,Type,NRestarts,StatusText,MainPID,Result,User"))
        .Split('\n', StringSplitOptions.RemoveEmptyEntries)
        .Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);

    /// <summary>
    /// Moves the door line from the simulator's side: each level in turn as fast as the guest's shell writes them
    /// (a few ms apart: the contact bounce a reed switch makes), ending on the last. ActiveLow: pull-down is closed.
    /// </summary>
    public Task MoveDoorAsync(params string[] pulls) => vm.RunOkAsync(
        $"p=\"$(cat /run/gpio-sim)/sim_gpio{DoorLine}/pull\"\nfor v in {string.Join(' ', pulls)}; do echo $v > \"$p\"; done");

    public Task OpenDoorWithBounceAsync() => MoveDoorAsync("pull-up", "pull-down", "pull-up", "pull-down", "pull-up");

    public Task CloseDoorWithBounceAsync() => MoveDoorAsync("pull-down", "pull-up", "pull-down", "pull-up", "pull-down");

    /// <summary>GET an API path through the forward; the envelope's data.</summary>
    public async Task<JsonElement> GetAsync(string path)
    {
        using var response = await _http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new HttpRequestException($"GET {path}: {(int)response.StatusCode} {body}");
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.GetProperty("data").Clone();
    }

    public async Task<string> GetTextAsync(string path)
    {
        using var response = await _http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new HttpRequestException($"GET {path}: {(int)response.StatusCode} {body}");
        return body;
    }

    public async Task<JsonElement> ContainerStatusAsync() =>
        (await GetAsync("/api/v1/status")).GetProperty("containers").EnumerateArray().Single(c => c.GetProperty("id").GetString() == ContainerId);

    public async Task<List<JsonElement>> SessionsAsync() =>
        (await GetAsync($"/api/v1/sessions?container_id={ContainerId}&limit=100")).GetProperty("sessions").EnumerateArray().ToList();

    /// <summary>Waits until the API answers through the forward (the agent serves; the guest's network is up).</summary>
    public Task WaitForApiAsync(TimeSpan deadline) => Eventually.UntilAsync(async () =>
    {
        try
        {
            await GetAsync("/api/v1/status");
            return true;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }, deadline, "the agent's API through the VM's forward");

    /// <summary>Waits for the door's state in the agent (open or closed) with the session it should have.</summary>
    public async Task<JsonElement> WaitForDoorAsync(string door, bool inSession, TimeSpan deadline)
    {
        try
        {
            var status = await Eventually.UntilAsync<JsonElement?>(async () =>
            {
                var status = await ContainerStatusAsync();
                var matches = status.GetProperty("door").GetString() == door
                    && (status.GetProperty("current_session_id").ValueKind == JsonValueKind.String) == inSession;
                return matches ? status : null;
            }, deadline, $"the door {door}{(inSession ? " with a session in progress" : " with no session in progress")}");
            return status!.Value;
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + await DiagnosticsAsync(), ex);
        }
    }

    /// <summary>What the agent says of itself (healthz, the container's status) and where each of its threads waits.</summary>
    public async Task<string> DiagnosticsAsync()
    {
        var text = new System.Text.StringBuilder("\n--- agent ---\n");
        try
        {
            using var health = await _http.GetAsync("/healthz");
            text.AppendLine($"healthz {(int)health.StatusCode}: {await health.Content.ReadAsStringAsync()}");
            text.AppendLine($"status: {await ContainerStatusAsync()}");
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            text.AppendLine($"API: {ex.Message}");
        }
        var (_, threads) = await vm.RunAsync(
            "pid=$(systemctl show -p MainPID --value piorchestrator); for t in /proc/$pid/task/*; do echo \"$(cat $t/comm) $(cut -d' ' -f3 $t/stat) $(cat $t/wchan)\"; done",
            TimeSpan.FromSeconds(60));
        return text.Append("threads (name, state, kernel wait):\n").Append(threads).ToString();
    }

    /// <summary>Waits until session <paramref name="id"/> is complete (AFTER_CLOSE taken or given up).</summary>
    public async Task WaitForCompleteAsync(string id, TimeSpan deadline)
    {
        try
        {
            await Eventually.UntilAsync(async () =>
                (await GetAsync($"/api/v1/sessions/{id}")).GetProperty("status").GetString() == "complete", deadline, $"session {id} complete");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + await DiagnosticsAsync(), ex);
        }
    }

    /// <summary>One door cycle, each move with contact bounce: the session it made, once complete.</summary>
    public async Task<string> DoorCycleAsync(TimeSpan deadline)
    {
        await OpenDoorWithBounceAsync();
        var id = (await WaitForDoorAsync("open", inSession: true, deadline)).GetProperty("current_session_id").GetString()!;
        await CloseDoorWithBounceAsync();
        await WaitForCompleteAsync(id, deadline);
        return id;
    }

    public Task<string> JournalAsync(string options) => vm.RunOkAsync($"journalctl -u piorchestrator --no-pager -q -o cat {options}");

    public void Dispose() => _http.Dispose();
}
