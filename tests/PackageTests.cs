using System.Diagnostics;
using System.Globalization;
using static TorchSharp.torch;

namespace Schedulers.Tests;

/// <summary>
/// SLOW (about 90 s): packs Schedulers.Core, Schedulers and Schedulers.Tool into a temporary folder, then uses them
/// the way a user would — a fresh console project outside the repository referencing Schedulers 0.1.0 runs a
/// DPM-Solver step on TorchSharp (which proves the TorchSharp native-library fix travels in the package), and the
/// tool installed from the folder writes samples.png. Filter it out with <c>--filter Category!=Slow</c>.
/// </summary>
[Trait("Category", "Slow")]
public sealed class PackageTests : IDisposable
{
    private const string Version = "0.1.0";
    private readonly string _root = Directory.CreateTempSubdirectory("schedulers-pack-").FullName;

    [Fact]
    public void Packed_library_runs_in_a_fresh_project_and_packed_tool_samples()
    {
        var repo = RepositoryRoot();
        var packages = Path.Combine(_root, "packages");
        foreach (var project in new[] { "src/Core.FSharp", "src/Shell.CSharp", "src/Cli" })
            Run("dotnet", $"pack \"{Path.Combine(repo, project)}\" -c Release -o \"{packages}\"", repo);
        foreach (var id in new[] { "Schedulers.Core", "Schedulers", "Schedulers.Tool" })
            Assert.True(File.Exists(Path.Combine(packages, $"{id}.{Version}.nupkg")), $"{id}.{Version}.nupkg was not packed");

        var consumer = WriteConsumer(packages);
        var printed = Run("dotnet", "run -c Release", consumer).Trim();
        Assert.Equal(ExpectedFirstStepValue(), printed.Split('\n')[^1].Trim());

        var tools = Path.Combine(_root, "tools");
        Run("dotnet", $"tool install --tool-path \"{tools}\" --add-source \"{packages}\" Schedulers.Tool --version {Version}", _root);
        var work = Directory.CreateDirectory(Path.Combine(_root, "work")).FullName;
        Run(Path.Combine(tools, "schedulers"), "sample --samples 200 --steps 10", work);
        var png = Path.Combine(work, "samples.png");
        Assert.True(File.Exists(png), "schedulers sample wrote no samples.png");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(png)[..4]);
    }

    /// <summary>The consumer program's first DPM-Solver++ step, computed here with the repository's own build.</summary>
    private static string ExpectedFirstStepValue()
    {
        var scheduler = new DPMSolverMultistepScheduler();
        scheduler.SetTimesteps(10);
        using var sample = ones(1, 2);
        using var eps = full(1, 2, 0.5f);
        var t = scheduler.Timesteps[0].item<long>();
        using var prev = scheduler.Step(eps, t, sample).PrevSample;
        return prev[0, 0].item<float>().ToString("R", CultureInfo.InvariantCulture);
    }

    private const string ConsumerProgram = """
        using System.Globalization;
        using Schedulers;
        using static TorchSharp.torch;

        var scheduler = new DPMSolverMultistepScheduler();
        scheduler.SetTimesteps(10);
        var sample = ones(1, 2);
        var eps = full(1, 2, 0.5f);
        var t = scheduler.Timesteps[0].item<long>();
        var prev = scheduler.Step(eps, t, sample).PrevSample;
        Console.WriteLine(prev[0, 0].item<float>().ToString("R", CultureInfo.InvariantCulture));
        """;

    private string WriteConsumer(string packages)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_root, "consumer")).FullName;
        // The temporary folder is outside the repository; these keep any outer MSBuild settings from leaking in.
        File.WriteAllText(Path.Combine(_root, "Directory.Build.props"),
            "<Project><PropertyGroup><ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup></Project>");
        File.WriteAllText(Path.Combine(_root, "Directory.Build.targets"), "<Project />");
        File.WriteAllText(Path.Combine(_root, "Directory.Packages.props"),
            "<Project><PropertyGroup><ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup></Project>");
        File.WriteAllText(Path.Combine(dir, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Schedulers" Version="{Version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), ConsumerProgram);
        File.WriteAllText(Path.Combine(dir, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{packages}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
              <packageSourceMapping>
                <packageSource key="local">
                  <package pattern="Schedulers" />
                  <package pattern="Schedulers.*" />
                </packageSource>
                <packageSource key="nuget.org">
                  <package pattern="*" />
                </packageSource>
              </packageSourceMapping>
            </configuration>
            """);
        return dir;
    }

    private static string Run(string file, string arguments, string workingDirectory)
    {
        var info = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // A fresh package cache would download TorchSharp again; a separate one for the packed ids avoids stale
        // copies of Schedulers 0.1.0 from earlier runs.
        info.Environment["NUGET_PACKAGES"] = SharedCacheWithoutSchedulers();
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(5)), $"{file} {arguments} did not finish in 5 minutes");
        Assert.True(process.ExitCode == 0,
            $"{file} {arguments} exited with {process.ExitCode}\n{stdout.Result}\n{stderr.Result}");
        return stdout.Result;
    }

    private static string SharedCacheWithoutSchedulers()
    {
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                    ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (var id in new[] { "schedulers", "schedulers.core", "schedulers.tool" })
        {
            var packed = Path.Combine(cache, id, Version);
            if (Directory.Exists(packed)) Directory.Delete(packed, recursive: true);
        }
        return cache;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Schedulers.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no Schedulers.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>Removes the temporary packages, consumer project and tool.</summary>
    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
