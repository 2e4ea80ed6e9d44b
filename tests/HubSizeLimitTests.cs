using System.Net;
using System.Text;
using Schedulers.Core;
using Schedulers.Hub;

namespace Schedulers.Tests;

/// <summary>A config larger than <see cref="ConfigFile.MaxBytes"/> is refused, downloaded or read from the cache,
/// without being held whole in memory or cached.</summary>
public sealed class HubSizeLimitTests : IDisposable
{
    private const string Commit = "0123456789abcdef0123456789abcdef01234567";
    private readonly DirectoryInfo _cache = Directory.CreateTempSubdirectory();

    public void Dispose() => _cache.Delete(true);

    /// <summary>A valid config padded with a hidden key to <paramref name="size"/> bytes.</summary>
    private static byte[] PaddedConfig(int size)
    {
        const string head = "{\"_class_name\": \"KarrasVeScheduler\", \"pad\": \"";
        const string tail = "\"}\n";
        return Encoding.UTF8.GetBytes(head + new string('x', size - head.Length - tail.Length) + tail);
    }

    [Fact]
    public void The_cap_is_four_mebibytes()
    {
        Assert.Equal(4 * 1024 * 1024, ConfigFile.MaxBytes);
    }

    [Fact]
    public void A_download_over_the_cap_is_refused_and_not_cached()
    {
        using var hub = new FakeHub();
        hub.Files["org/big|main|scheduler_config.json"] = (PaddedConfig(ConfigFile.MaxBytes + 1), Commit);
        var e = Assert.Throws<SchedulerConfigException>(() => KarrasVeScheduler.FromPretrained("org/big", hub: new HubSettings(hub.Endpoint, null, false, _cache.FullName)));
        Assert.Contains("larger than", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(_cache.FullName));
    }

    [Fact]
    public void An_endless_download_stops_at_the_cap()
    {
        var handler = new RecordingHandler(_ => new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(new EndlessStream()) });
        var client = new HubClient(new HubSettings("https://hub.example", null, false, _cache.FullName), new HttpClient(handler));
        var e = Assert.Throws<SchedulerConfigException>(() => client.DownloadConfig("org/endless", "scheduler_config.json"));
        Assert.Contains("larger than", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(_cache.FullName));
    }

    [Fact]
    public void A_download_at_the_cap_is_accepted()
    {
        using var hub = new FakeHub();
        hub.Files["org/edge|main|scheduler_config.json"] = (PaddedConfig(ConfigFile.MaxBytes), Commit);
        var scheduler = KarrasVeScheduler.FromPretrained("org/edge", hub: new HubSettings(hub.Endpoint, null, false, _cache.FullName));
        Assert.Equal(100.0, scheduler.Config.SigmaMax);
    }

    private string CachedSnapshot(string repo)
    {
        var folder = Path.Combine(_cache.FullName, "models--org--" + repo);
        Directory.CreateDirectory(Path.Combine(folder, "refs"));
        File.WriteAllText(Path.Combine(folder, "refs", "main"), Commit);
        var snapshot = Path.Combine(folder, "snapshots", Commit);
        Directory.CreateDirectory(snapshot);
        return Path.Combine(snapshot, "scheduler_config.json");
    }

    [Fact]
    public void A_cached_file_over_the_cap_is_refused()
    {
        File.WriteAllBytes(CachedSnapshot("big"), PaddedConfig(ConfigFile.MaxBytes + 1));
        var e = Assert.Throws<SchedulerConfigException>(() => KarrasVeScheduler.FromPretrained("org/big", hub: new HubSettings("https://hub.example", null, true, _cache.FullName)));
        Assert.Contains("larger than", e.Message);
    }

    [Fact]
    public void A_cached_file_linked_to_an_endless_device_is_refused_without_reading_it_whole()
    {
        if (!File.Exists("/dev/zero")) return; // An endless device exists on Unix only.
        File.CreateSymbolicLink(CachedSnapshot("zero"), "/dev/zero");
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var e = Assert.Throws<SchedulerConfigException>(() => KarrasVeScheduler.FromPretrained("org/zero", hub: new HubSettings("https://hub.example", null, true, _cache.FullName)));
        Assert.Contains("larger than", e.Message);
        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - before < 64L * 1024 * 1024);
    }

    /// <summary>A body that never ends.</summary>
    private sealed class EndlessStream : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count)
        {
            Array.Fill(buffer, (byte)' ', offset, count);
            return count;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
