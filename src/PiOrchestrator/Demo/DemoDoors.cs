using Microsoft.Extensions.Options;
using PiOrchestrator.Doors;
using PiOrchestrator.Site;

namespace PiOrchestrator.Demo;

/// <summary>Opens and closes each demo container's door on a loop: open 4 s, closed 8 s.</summary>
public sealed class DemoDoors(IOptions<SiteOptions> site, IDoorEventSink sink, TimeProvider time, ILogger<DemoDoors> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        log.LogInformation("Demo mode: simulated doors and cameras for {Containers}", string.Join(", ", site.Value.Containers.Select(c => c.Id)));
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken);
            while (!stoppingToken.IsCancellationRequested)
            {
                foreach (var c in site.Value.Containers)
                    sink.Post(new DoorEvent(c.Id, DoorEventKind.Opened, DoorEventSource.Demo, time.GetUtcNow()));
                await Task.Delay(TimeSpan.FromSeconds(4), time, stoppingToken);
                foreach (var c in site.Value.Containers)
                    sink.Post(new DoorEvent(c.Id, DoorEventKind.Closed, DoorEventSource.Demo, time.GetUtcNow()));
                await Task.Delay(TimeSpan.FromSeconds(8), time, stoppingToken);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
