// Every human-readable text a client can receive, in English and in French (`--lang`). The codes of
// docs/protocol.md §8 never change with the language; the two legacy strings stay byte for byte.

/** Languages of `--lang`. */
export const LANGS = ["en", "fr"] as const;
/** A language of `--lang`. */
export type Lang = typeof LANGS[number];

/** One text in every language. */
export type Text = Readonly<Record<Lang, string>>;

/** Legacy text of a refused registration; one client retries when it sees "already exists". */
export const USER_EXISTS_MESSAGE = "Username already exists.";
/** Legacy text of a refused login. */
export const LOGIN_FAILED_MESSAGE = "Login failed.";

/** A text that is the same in every language (the legacy strings, docs/protocol.md §8). */
function same(text: string): Text {
  return { en: text, fr: text };
}

/** What a JSON value is, as a field's expected type reads in each language. */
const KINDS: Record<string, Text> = {
  string: { en: "a string", fr: "une chaîne de caractères" },
  number: { en: "a number", fr: "un nombre" },
  int: { en: "an integer", fr: "un entier" },
  boolean: { en: "a boolean", fr: "un booléen" },
  object: { en: "an object", fr: "un objet" },
  array: { en: "an array", fr: "un tableau" },
};

function kind(expected: string): Text {
  return KINDS[expected] ?? { en: `a ${expected}`, fr: `de type ${expected}` };
}

/** What only an administrator may do, as the `forbidden` text names it. */
export type AdminAction =
  | "kick"
  | "mute"
  | "unmute"
  | "ban"
  | "unban"
  | "bans"
  | "mutes"
  | "announce"
  | "console"
  | "inspect";

const ACTIONS: Record<AdminAction, Text> = {
  unmute: { en: "lift a mute", fr: "rendre la parole" },
  mutes: { en: "list the mutes", fr: "voir les élèves rendus muets" },
  kick: { en: "kick", fr: "exclure quelqu'un" },
  mute: { en: "mute", fr: "rendre quelqu'un muet" },
  ban: { en: "ban", fr: "bannir quelqu'un" },
  unban: { en: "unban", fr: "lever un bannissement" },
  bans: { en: "list bans", fr: "voir les bannissements" },
  console: { en: "use the teacher console", fr: "utiliser la console enseignant" },
  announce: { en: "announce", fr: "faire une annonce" },
  inspect: {
    en: "inspect another account's connection",
    fr: "inspecter la connexion d'un autre compte",
  },
};

/**
 * The texts, one function each, every language side by side. Values are quoted as they were
 * sent; numbers are written as they are.
 */
export const T = {
  userExists: (): Text => same(USER_EXISTS_MESSAGE),
  loginFailed: (): Text => same(LOGIN_FAILED_MESSAGE),

  // Requests (protocol/schema.ts, protocol/channel.ts)
  badJson: (): Text => ({
    en: "Invalid JSON: expected one JSON object per line",
    fr: "JSON invalide : un objet JSON par ligne est attendu",
  }),
  notAnObject: (): Text => ({
    en: "Request must be a JSON object",
    fr: "La requête doit être un objet JSON",
  }),
  idType: (): Text => ({
    en: 'Field "id" must be a string or a number',
    fr: 'Le champ "id" doit être une chaîne de caractères ou un nombre',
  }),
  unknownType: (type: string): Text => ({
    en: `Unknown type "${type}"`,
    fr: `Type "${type}" inconnu`,
  }),
  fieldMissing: (field: string): Text => ({
    en: `Field "${field}" is missing`,
    fr: `Le champ "${field}" est manquant`,
  }),
  fieldType: (field: string, expected: string): Text => ({
    en: `Field "${field}" must be ${kind(expected).en}`,
    fr: `Le champ "${field}" doit être ${kind(expected).fr}`,
  }),
  fieldInvalid: (field: string): Text => ({
    en: `Field "${field}" is invalid`,
    fr: `Le champ "${field}" est invalide`,
  }),
  fieldEmpty: (field: string): Text => ({
    en: `Field "${field}" must not be empty`,
    fr: `Le champ "${field}" ne doit pas être vide`,
  }),
  fieldAtLeast: (field: string, min: number): Text => ({
    en: `Field "${field}" must be at least ${min}`,
    fr: `Le champ "${field}" doit valoir au moins ${min}`,
  }),
  fieldAtMost: (field: string, max: number): Text => ({
    en: `Field "${field}" must be at most ${max}`,
    fr: `Le champ "${field}" doit valoir au plus ${max}`,
  }),
  fieldAtMostChars: (field: string, max: number): Text => ({
    en: `Field "${field}" must be at most ${max} characters`,
    fr: `Le champ "${field}" doit faire au plus ${max} caractères`,
  }),
  fieldAtMostBytes: (field: string, max: number): Text => ({
    en: `Field "${field}" must be at most ${max} bytes`,
    fr: `Le champ "${field}" doit faire au plus ${max} octets`,
  }),
  fieldNotWith: (field: string, other: string): Text => ({
    en: `Field "${field}" cannot be given with "${other}"`,
    fr: `Le champ "${field}" ne peut pas être donné avec "${other}"`,
  }),
  binaryFrame: (): Text => ({
    en: "Binary frames are not read: send JSON as text",
    fr: "Les trames binaires ne sont pas lues : envoyez le JSON en texte",
  }),
  channelTooLong: (max: number): Text => ({
    en: `Channel name must be at most ${max} characters`,
    fr: `Le nom du salon doit faire au plus ${max} caractères`,
  }),
  channelOneWord: (): Text => ({
    en: "Channel name must be one word without control characters",
    fr: "Le nom du salon doit être un seul mot, sans caractères de contrôle",
  }),

  // Names (auth/names.ts)
  nameEmpty: (): Text => ({ en: "Name must not be empty", fr: "Le nom ne doit pas être vide" }),
  nameTooLong: (max: number): Text => ({
    en: `Name must be at most ${max} characters`,
    fr: `Le nom doit faire au plus ${max} caractères`,
  }),
  nameInvisible: (): Text => ({
    en: "Name must not contain control or invisible characters",
    fr: "Le nom ne doit pas contenir de caractères de contrôle ou invisibles",
  }),
  nameSpaces: (): Text => ({
    en: "Name must not start or end with a space",
    fr: "Le nom ne doit pas commencer ni finir par une espace",
  }),
  // Sessions and limits (session/)
  notLoggedIn: (): Text => ({
    en: "Log in (or send a message as a guest) first",
    fr: "Connectez-vous d'abord (ou envoyez un message en tant qu'invité)",
  }),
  commandAsChat: (): Text => ({
    en: 'Not sent: to log in, send {"type":"login","username":"...","password":"..."} ' +
      '(create the account first with {"type":"register","username":"...","password":"..."})',
    fr: "Message non envoyé : pour vous connecter, envoyez " +
      '{"type":"login","username":"...","password":"..."} (créez d\'abord le compte avec ' +
      '{"type":"register","username":"...","password":"..."})',
  }),
  guestsOff: (): Text => ({
    en: "Guests are not allowed here: log in first",
    fr: "Les invités ne sont pas acceptés ici : connectez-vous d'abord",
  }),
  sessionExpired: (): Text => ({
    en: "Session expired: log in again",
    fr: "Session expirée : reconnectez-vous",
  }),
  serverError: (): Text => ({
    en: "Server error, please try again",
    fr: "Erreur du serveur, veuillez réessayer",
  }),
  notStored: (): Text => ({
    en: "Message could not be stored, send it again",
    fr: "Le message n'a pas pu être enregistré, renvoyez-le",
  }),
  rateWait: (ms: number): Text => ({
    en: `Too many requests: wait ${ms} ms`,
    fr: `Trop de requêtes : attendez ${ms} ms`,
  }),
  rateClosing: (): Text => ({
    en: "Too many requests: closing the connection",
    fr: "Trop de requêtes : fermeture de la connexion",
  }),
  badLinesClosing: (): Text => ({
    en: "Too many bad lines: closing the connection",
    fr: "Trop de lignes invalides : fermeture de la connexion",
  }),
  lineTooLong: (max: number): Text => ({
    en: `Line is longer than ${max} bytes`,
    fr: `La ligne dépasse ${max} octets`,
  }),
  oversizedClosing: (): Text => ({
    en: "Too many oversized lines: closing the connection",
    fr: "Trop de lignes trop longues : fermeture de la connexion",
  }),
  noLineEnd: (max: number): Text => ({
    en: `No line end in ${max} bytes: closing the connection`,
    fr: `Pas de fin de ligne en ${max} octets : fermeture de la connexion`,
  }),
  tooManyRegistrations: (seconds: number): Text => ({
    en: `Too many registrations from your address: try again in ${seconds} s`,
    fr: `Trop d'inscriptions depuis votre adresse : réessayez dans ${seconds} s`,
  }),
  tooManyFailedLogins: (seconds: number): Text => ({
    en: `Too many failed logins: try again in ${seconds} s`,
    fr: `Trop de connexions échouées : réessayez dans ${seconds} s`,
  }),
  shuttingDown: (): Text => ({
    en: "Server is shutting down",
    fr: "Le serveur s'arrête",
  }),

  // Chat (session/chat.ts)
  unknownUser: (name: string): Text => ({
    en: `User "${name}" does not exist`,
    fr: `L'utilisateur "${name}" n'existe pas`,
  }),
  cannotLeaveDefault: (channel: string): Text => ({
    en: `Cannot leave "${channel}": every session is in it`,
    fr: `Impossible de quitter "${channel}" : toutes les sessions en font partie`,
  }),
  privateHistoryNeedsAccount: (): Text => ({
    en: "Private history needs an account: log in first",
    fr: "L'historique privé demande un compte : connectez-vous d'abord",
  }),

  // The inspector (session/inspection.ts)
  inspectWebOnly: (): Text => ({
    en: "The inspector is part of the web app: say hello over WebSocket first",
    fr: "L'inspecteur fait partie de l'application web : dites hello par WebSocket d'abord",
  }),
  inspectNeedsAccount: (): Text => ({
    en: "The inspector shows your own connections: log in to your account first",
    fr: "L'inspecteur montre vos propres connexions : connectez-vous à votre compte d'abord",
  }),
  unknownConnection: (conn: number): Text => ({
    en: `No connection ${conn} on this server`,
    fr: `Pas de connexion ${conn} sur ce serveur`,
  }),

  // Moderation (session/moderation.ts)
  adminOnly: (action: AdminAction): Text => ({
    en: `Only an administrator may ${ACTIONS[action].en}`,
    fr: `Seul un administrateur peut ${ACTIONS[action].fr}`,
  }),
  muted: (seconds: number): Text => ({
    en: `You are muted for ${seconds} more seconds`,
    fr: `Vous êtes rendu muet encore ${seconds} secondes`,
  }),
  bannedUntil: (until: string): Text => ({
    en: `This name is banned until ${until}`,
    fr: `Ce nom est banni jusqu'au ${until}`,
  }),
  kicked: (): Text => ({
    en: "Disconnected by an administrator",
    fr: "Déconnecté par un administrateur",
  }),
  banned: (until: string): Text => ({
    en: `Banned until ${until}`,
    fr: `Banni jusqu'au ${until}`,
  }),
  accountChanged: (): Text => ({
    en: "Your account was changed by an administrator: log in again",
    fr: "Votre compte a été modifié par un administrateur : reconnectez-vous",
  }),
  notYourself: (action: "kick" | "mute" | "ban"): Text => ({
    en: `You cannot ${action} yourself`,
    fr: {
      kick: "Vous ne pouvez pas vous exclure vous-même",
      mute: "Vous ne pouvez pas vous rendre muet vous-même",
      ban: "Vous ne pouvez pas vous bannir vous-même",
    }[action],
  }),
  notMuted: (name: string): Text => ({
    en: `User "${name}" is not muted`,
    fr: `L'utilisateur "${name}" n'est pas rendu muet`,
  }),
  notBanned: (name: string): Text => ({
    en: `User "${name}" is not banned`,
    fr: `L'utilisateur "${name}" n'est pas banni`,
  }),
  notOnline: (name: string): Text => ({
    en: `User "${name}" is not online`,
    fr: `L'utilisateur "${name}" n'est pas connecté`,
  }),

  // Connections (transport/)
  tooManyConnections: (): Text => ({
    en: "Too many connections, try again later",
    fr: "Trop de connexions, réessayez plus tard",
  }),
  identifyTimeout: (): Text => ({
    en: "Log in within the time allowed after connecting",
    fr: "Connectez-vous dans le délai accordé après l'ouverture de la connexion",
  }),
  anonymousEvictedAddress: (max: number): Text => ({
    en:
      `Too many connections waiting to log in from your address (--max-anonymous-per-address ${max}): ` +
      "closing this one, idle the longest",
    fr: `Trop de connexions en attente d'identification depuis votre adresse ` +
      `(--max-anonymous-per-address ${max}) : fermeture de celle-ci, inactive depuis le plus longtemps`,
  }),
  anonymousEvictedTotal: (max: number): Text => ({
    en: `Too many connections waiting to log in (--max-anonymous ${max}): ` +
      "closing this one, idle the longest",
    fr: `Trop de connexions en attente d'identification (--max-anonymous ${max}) : ` +
      "fermeture de celle-ci, inactive depuis le plus longtemps",
  }),
  metricsBridgeOff: (): Text => ({
    en: "GET_METRICS is switched off on this server (--metrics-bridge): read /metrics instead",
    fr: "GET_METRICS est désactivé sur ce serveur (--metrics-bridge) : lisez /metrics à la place",
  }),
  metricsBridgeUntrusted: (): Text => ({
    en: "GET_METRICS is answered only for trusted addresses (--metrics-bridge)",
    fr: "GET_METRICS n'est servi qu'aux adresses de confiance (--metrics-bridge)",
  }),
  idleTimeout: (): Text => ({
    en: "No ping for too long: closing the connection",
    fr: "Pas de ping depuis trop longtemps : fermeture de la connexion",
  }),
} as const;
