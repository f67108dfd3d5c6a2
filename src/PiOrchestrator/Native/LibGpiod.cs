using System.Runtime.InteropServices;

namespace PiOrchestrator.Native;

// Raw libgpiod 1.6 (v1 API, Debian libgpiod2). Only GpiodLine calls these.
internal static partial class LibGpiod
{
    public const string Library = "libgpiod.so.2";
    public const string DebianPackage = "libgpiod2";

    public const int GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW = 1 << 2;
    public const int GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE = 1 << 3;
    public const int GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN = 1 << 4;
    public const int GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP = 1 << 5;

    public const int GPIOD_LINE_EVENT_RISING_EDGE = 1;
    public const int GPIOD_LINE_EVENT_FALLING_EDGE = 2;

    /// <summary>struct timespec: tv_sec and tv_nsec are C longs, pointer-sized on Linux.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public nint Seconds;
        public nint Nanoseconds;
    }

    /// <summary>struct gpiod_line_event { struct timespec ts; int event_type; }: 24 bytes on 64-bit, 12 on 32-bit.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct LineEvent
    {
        public Timespec Timestamp;
        public int EventType;
    }

    [LibraryImport(Library, EntryPoint = "gpiod_chip_open_by_name", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial nint ChipOpenByName(string name);

    [LibraryImport(Library, EntryPoint = "gpiod_chip_open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial nint ChipOpen(string path);

    [LibraryImport(Library, EntryPoint = "gpiod_chip_close")]
    public static partial void ChipClose(nint chip);

    [LibraryImport(Library, EntryPoint = "gpiod_chip_get_line", SetLastError = true)]
    public static partial nint ChipGetLine(nint chip, uint offset);

    [LibraryImport(Library, EntryPoint = "gpiod_line_request_both_edges_events_flags", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int LineRequestBothEdgesEventsFlags(nint line, string consumer, int flags);

    [LibraryImport(Library, EntryPoint = "gpiod_line_release")]
    public static partial void LineRelease(nint line);

    [LibraryImport(Library, EntryPoint = "gpiod_line_get_value", SetLastError = true)]
    public static partial int LineGetValue(nint line);

    [LibraryImport(Library, EntryPoint = "gpiod_line_event_wait", SetLastError = true)]
    public static partial int LineEventWait(nint line, in Timespec timeout);

    [LibraryImport(Library, EntryPoint = "gpiod_line_event_read", SetLastError = true)]
    public static partial int LineEventRead(nint line, out LineEvent lineEvent);
}
