; Inno Setup 6 script of Vision Studio: installs the PyInstaller one-folder build
; (dist\vision-studio\) with a Start-menu entry, an optional desktop icon and an
; uninstaller (Settings > Apps). Compiled by packaging\build_windows.ps1:
;
;   ISCC.exe /DAppVersion=0.1.0 /DDistDir=C:\...\dist\vision-studio /DFlavour=cpu
;            /OC:\...\dist packaging\windows\vision-studio.iss
;
; /DSpanDisks splits the compressed files into Setup-*.bin slices next to the .exe
; (needed when they exceed ~4.2 GB, e.g. a CUDA build; ship the .exe and .bin together).
; Per-user install by default (no administrator rights needed); the first page lets
; an administrator install for all users instead.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef DistDir
  #define DistDir "..\..\dist\vision-studio"
#endif
#ifndef Flavour
  #define Flavour "cpu"
#endif
#define AppName "Vision Studio"
#define AppExe "vision-studio.exe"
#define CliExe "vision-studio-cli.exe"

[Setup]
; AppId identifies the app for upgrades and the uninstaller: never change it.
AppId={{6F1C2B8E-3D47-4A9B-9E52-7C1D0A4B8F36}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Vision Studio developers
AppComments=Label images, train CNNs with transfer learning and review the model's errors, offline.
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
LicenseFile=..\..\LICENSE
SetupIconFile=..\..\vision_studio\resources\icon.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName} {#AppVersion}
OutputBaseFilename=vision-studio-{#AppVersion}-windows-x64-{#Flavour}-setup
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes
#ifdef SpanDisks
DiskSpanning=yes
DiskSliceSize=2000000000
#endif

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#DistDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; WorkingDir: "{userdocs}"; Comment: "Label images, train and evaluate CNNs"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; WorkingDir: "{userdocs}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Anything written inside the app's own folder after installation (e.g. byte-code caches
; next to the .py files PyInstaller keeps for torch) would otherwise block removing it.
; The user's projects, logs and settings (%LOCALAPPDATA%\vision-studio) are kept.
Type: filesandordirs; Name: "{app}\_internal"
